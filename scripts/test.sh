#!/usr/bin/env bash
# The one test command (npm test): Python training tests, the smoke artifact the Worker tests load,
# then the Worker tests inside workerd. Stops at the first failing stage.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(bash scripts/python-env.sh)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

echo "== pytest (training/) =="
"$PY" -m pytest -q training/tests

echo "== smoke artifact for the Worker tests =="
bash scripts/ensure-artifact.sh smoke .cache/artifacts/smoke

echo "== vitest (workerd: Worker, D1, R2, ONNX) =="
# workerd runs guarded on small hosts (scripts/workerd-guard/guard.mjs, applied by vitest.config.ts).
# A stuck isolate never lets a test timeout fire, so the whole run has a watchdog: fail loudly, never hang CI.
VITEST_WATCHDOG_S=${VITEST_WATCHDOG_S:-1800}
set +e
timeout --kill-after=30 "$VITEST_WATCHDOG_S" npx vitest run "$@"
rc=$?
set -e
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "vitest did not finish within ${VITEST_WATCHDOG_S}s: a workerd isolate is stuck (see docs/testing.md)" >&2
fi
exit "$rc"
