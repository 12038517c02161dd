#!/usr/bin/env bash
# The one test command (npm test): Python training tests, the smoke artifact the Worker tests load,
# the Worker tests inside workerd, then GraphiQL in a real headless Chromium. Stops at the first
# failing stage.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(bash scripts/python-env.sh)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

echo "== pytest (training/) =="
"$PY" -m pytest -q training/tests

echo "== smoke artifact for the Worker tests =="
bash scripts/ensure-artifact.sh smoke .cache/artifacts/smoke

echo "== GraphiQL assets, workerd guard, Node tooling tests =="
node scripts/build-assets.mjs
node scripts/workerd-guard/check.mjs
node --test scripts/tests/

echo "== vitest (workerd: Worker, D1, R2, ONNX) =="
# workerd runs with single-threaded V8 (scripts/workerd-guard/guard.mjs, applied by vitest.config.ts).
# A stuck isolate never lets a test timeout fire, so the whole run has a watchdog: fail loudly, never hang CI.
VITEST_WATCHDOG_S=${VITEST_WATCHDOG_S:-1200}
set +e
timeout --kill-after=30 "$VITEST_WATCHDOG_S" npx vitest run "$@"
rc=$?
set -e
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "vitest did not finish within ${VITEST_WATCHDOG_S}s: a workerd isolate is stuck (see docs/testing.md)" >&2
fi
[ "$rc" -eq 0 ] || exit "$rc"

echo "== GraphiQL in headless Chromium =="
# Needs Debian's chromium (.ci/run installs it). Elsewhere it is skipped, loudly, unless required.
if [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  timeout --kill-after=10 300 node test/graphql/graphiql-browser.mjs
elif [ "${ADAPTAGENT_REQUIRE_BROWSER:-0}" = 1 ]; then
  echo "GraphiQL browser check: no Chromium at ${CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)" >&2
  exit 1
else
  echo "SKIPPED: GraphiQL browser check — no Chromium at ${CHROMIUM:-/usr/bin/chromium} (apt-get install chromium, or set CHROMIUM)" >&2
fi
