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
npx vitest run
