#!/usr/bin/env bash
# scripts/schemathesis.sh BASE_URL API_KEY: Schemathesis (an OpenAPI-driven fuzzer; every check, in the
# coverage, fuzzing and stateful phases) against a running service, e.g. `npm start`. Checks that
# /openapi.json says exactly what the server accepts and answers. Installs its pinned version into
# .cache/schemathesis-venv on first use. ST_MAX_EXAMPLES (default 50) and ST_SEED (default 1) tune it.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/schemathesis.sh BASE_URL API_KEY}
key=${2:?usage: scripts/schemathesis.sh BASE_URL API_KEY}
venv=.cache/schemathesis-venv
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check schemathesis==4.32.5
fi
# An agent for the generated tasks (agents are created through GraphQL only).
agent=$(curl -sf "$base/graphql" -H "authorization: Bearer $key" -H 'content-type: application/json' \
  -d '{"query":"mutation { createAgent(input: { name: \"schemathesis\" }) { id } }"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createAgent"]["id"])')
export ADAPTAGENT_ST_AGENT_ID=$agent PYTHONPATH=$PWD
exec "$venv/bin/st" --config-file scripts/schemathesis.toml run "$base/openapi.json" \
  -H "Authorization: Bearer $key" --max-examples "${ST_MAX_EXAMPLES:-50}" --seed "${ST_SEED:-1}" --workers 1 --no-color
