#!/usr/bin/env bash
# npm run publish:local [-- ARTIFACT_DIR]: publish an artifact into `wrangler dev`'s local R2 + D1 and make
# it the active ModelVersion. Without a folder: the default artifact (built first if missing or stale).
# The migrations must have been applied (npm start does it; or: npx wrangler d1 migrations apply adaptagent --local).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(bash scripts/python-env.sh)
dir=${1:-.cache/models/default}
if [ $# -eq 0 ]; then bash scripts/ensure-artifact.sh default "$dir"; fi
exec "$PY" -m training publish --target wrangler-local --activate "$dir"
