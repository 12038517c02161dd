#!/usr/bin/env bash
# Creates (once) the Python peer's environment in .cache/peer-venv and prints its python path.
# torch is pinned first, so that nothing pulls a multi-GB CUDA build on a CPU machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
TORCH_PIN="${TORCH_PIN:-torch==2.13.0}"
venv=.cache/peer-venv
stamp=$venv/.requirements.sha256
want=$( (cat bench/peer/requirements.txt; echo "$TORCH_PIN") | sha256sum | cut -d' ' -f1)
[ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[peer-env] installing bench/peer/requirements.txt into $venv (pinned $TORCH_PIN)…" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "$TORCH_PIN" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -c <(echo "$TORCH_PIN") -r bench/peer/requirements.txt >&2
  echo "$want" > "$stamp"
fi
echo "$PWD/$venv/bin/python"
