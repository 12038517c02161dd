#!/usr/bin/env bash
# Creates (once) the Python environment of training/ in .venv and prints its python path.
# torch is installed first and pinned, so that nothing pulls a multi-GB CUDA build on a CPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_PIN="${TORCH_PIN:-torch==2.13.0}"
stamp=.venv/.requirements.sha256
want=$( (cat training/requirements.txt; echo "$TORCH_PIN") | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv >&2
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[python-env] installing training requirements into .venv (pinned $TORCH_PIN)…" >&2
  .venv/bin/pip install -q --disable-pip-version-check "$TORCH_PIN" >&2
  .venv/bin/pip install -q --disable-pip-version-check -c <(echo "$TORCH_PIN") -r training/requirements.txt >&2
  echo "$want" > "$stamp"
fi
echo "$PWD/.venv/bin/python"
