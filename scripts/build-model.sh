#!/usr/bin/env bash
# npm run build:model [-- --algorithm A ...]: rebuilds the shipped default model (models/default) from
# the training code on CPU (~20-30 min on 2 cores; each long step shows a progress bar with the time left).
# Needs Python 3.11 (.venv is created) and the data sets in ADAPTAGENT_DATA_DIR (default ../shared/data).
# The new artifact replaces models/default (BUILD_MODEL_OUT: another folder) only when the build
# succeeds; commit it with what changed and what it measured (docs/training.md "The shipped default model").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(bash scripts/python-env.sh)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
out=${BUILD_MODEL_OUT:-models/default}
tmp=.cache/models/build-$(date -u +%Y%m%d-%H%M%S)
mkdir -p .cache/models
started=$(date +%s)
echo "[build:model] building into $tmp (python -m training default $*)…" >&2
"$PY" -m training default --out "$tmp" "$@"
# Only the files the manifest lists ship (training logs and checkpoints stay in $tmp).
rm -rf "$out.new" && mkdir -p "$out.new"
"$PY" - "$tmp" "$out.new" <<'PY'
import json, shutil, sys
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
manifest = json.loads((src / "manifest.json").read_text())
for name in [f["name"] for f in manifest["files"]] + ["manifest.json"]:
    shutil.copyfile(src / name, dst / name)
print(f"[build:model] {manifest['version']}: {len(manifest['files'])} files", file=sys.stderr)
PY
# The confidence's in-scope factor, fitted on SGD source tasks in workerd (scripts/calibrate.mjs). The
# default encoder's teacher was trained on SGD's labels, so the episodes run on its twin whose teacher
# was not (encoder transformer-meta-calibration: SGD is then an unseen domain, as a customer's is); a build
# with another --encoder or --preset is calibrated on itself.
if [ -f "${ADAPTAGENT_DATA_DIR:-../shared/data}/sgd/train.jsonl" ]; then
  fit=()
  case " $* " in
    *" --encoder"* | *" --preset"*) ;;
    *) twin=$tmp-calibration-twin
       echo "[build:model] building the calibration twin into $twin…" >&2
       "$PY" -m training default --encoder transformer-meta-calibration --out "$twin" "$@"
       fit=(--fit-with "$twin") ;;
  esac
  node scripts/calibrate.mjs --artifact "$out.new" --out "$out.new" "${fit[@]}" >/dev/null
else
  echo "[build:model] no sgd data: the artifact is not calibrated (confidence is the plain softmax)" >&2
fi
rm -rf "$out" && mv "$out.new" "$out"
echo "[build:model] $out replaced in $(( $(date +%s) - started )) s; verify with npm run eval, then commit it" >&2
