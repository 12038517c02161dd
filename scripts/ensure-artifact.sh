#!/usr/bin/env bash
# ensure-artifact.sh <smoke|default> <dir>: builds a model artifact with `python -m training <cmd>`
# unless <dir> already holds one built from the same training code (a cache keyed by its sources).
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=$1 dir=$2
PY=$(bash scripts/python-env.sh)
key=$(cat training/requirements.txt $(git ls-files 'training/*.py' 'training/**/*.py' | grep -v /tests/ | sort) docs/model-artifact.md | sha256sum | cut -d' ' -f1)
if [ -f "$dir/manifest.json" ] && [ "$(cat "$dir/.source-key" 2>/dev/null)" = "$key" ]; then
  echo "[artifact] $cmd artifact in $dir is up to date" >&2
  exit 0
fi
rm -rf "$dir.tmp"
echo "[artifact] building the $cmd artifact in $dir (python -m training $cmd)…" >&2
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$PY" -m training "$cmd" --out "$dir.tmp"
echo "$key" > "$dir.tmp/.source-key"
rm -rf "$dir" && mv "$dir.tmp" "$dir"
