#!/usr/bin/env bash
# The scheduled container's job (see docs/training.md "Schedule"). Everything goes to stdout/stderr,
# which the scheduler (cron-triggered container platform) keeps as the run's log.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${TRAINING_OUT:-artifacts}/$(date -u +%Y%m%d-%H%M%S)"
config="${TRAINING_CONFIG:-}"
echo "[job] $(date -u +%FT%TZ) meta-training into $out (preset ${TRAINING_PRESET:-full}, config ${config:-none})"
if [ -n "${R2_BUCKET:-}" ]; then
  # New Examples and Feedback exported by the Worker's cron (JSONL under feedback/ in the same bucket).
  python - <<'PY'
import os, boto3, pathlib
s3 = boto3.client("s3", endpoint_url=os.environ["R2_ENDPOINT"], region_name="auto",
                  aws_access_key_id=os.environ["R2_ACCESS_KEY_ID"], aws_secret_access_key=os.environ["R2_SECRET_ACCESS_KEY"])
dest = pathlib.Path(os.environ.get("ADAPTAGENT_DATA_DIR", "data")) / "feedback"
dest.mkdir(parents=True, exist_ok=True)
n = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=os.environ["R2_BUCKET"], Prefix="feedback/"):
    for obj in page.get("Contents", []):
        target = dest / pathlib.Path(obj["Key"]).name
        if not target.exists():
            s3.download_file(os.environ["R2_BUCKET"], obj["Key"], str(target)); n += 1
print(f"[job] pulled {n} new feedback files into {dest}")
PY
fi
# Feedback files land in $ADAPTAGENT_DATA_DIR/feedback; `train` folds them into meta-train (training/data.py).
python -m training train --preset "${TRAINING_PRESET:-full}" ${config:+--config "$config"} --out "$out"
if [ -n "${R2_BUCKET:-}" ]; then python -m training publish --target r2 "$out"; fi
echo "[job] done: $out"
