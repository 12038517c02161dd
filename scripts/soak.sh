#!/usr/bin/env bash
# scripts/soak.sh N [--vitest-only [VITEST ARGS]]: runs the test suite N times in a row and counts passes,
# failures and hangs (a run killed by the watchdog), one line per run, then a summary. Evidence for
# "npm test never hangs" (docs/testing.md). --vitest-only repeats just the workerd stage (where a hang
# would be), optionally only some files (e.g. test/model, where every hang seen so far happened).
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: scripts/soak.sh N [--vitest-only]}
mode=${2:-full}
shift $(( $# < 2 ? $# : 2 ))
pass=0 fail=0 hang=0
mkdir -p .cache/soak
for i in $(seq 1 "$n"); do
  t0=$(date +%s)
  if [ "$mode" = --vitest-only ]; then
    timeout --kill-after=30 "${VITEST_WATCHDOG_S:-1200}" npx vitest run "$@" > ".cache/soak/run-$i.log" 2>&1
  else
    npm test > ".cache/soak/run-$i.log" 2>&1
  fi
  rc=$?
  if [ "$rc" -eq 0 ]; then pass=$((pass + 1)); what=pass
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] || grep -q "did not finish within" ".cache/soak/run-$i.log"; then hang=$((hang + 1)); what=HANG
  else fail=$((fail + 1)); what=FAIL; fi
  echo "run $i/$n: $what in $(( $(date +%s) - t0 )) s ($(date -u +%FT%TZ))"
done
echo "soak ($mode $*): $pass passed, $fail failed, $hang hung of $n"
[ "$hang" -eq 0 ] && [ "$fail" -eq 0 ]
