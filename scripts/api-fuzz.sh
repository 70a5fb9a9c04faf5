#!/usr/bin/env bash
# Fuzzes the agent API from the OpenAPI document it serves (schemathesis, from PyPI), against the
# release build on a fresh database: every answer must be one the document states. Needs the
# release build (target/release/tessera and tessera-vendor; scripts/test.sh makes them).
#
# usage: scripts/api-fuzz.sh [SECONDS]   (default 60: the test command's run)
#   TESSERA_API_FUZZ_PORT (default 3290), TESSERA_API_FUZZ_SEED (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
seconds="${1:-60}"
port="${TESSERA_API_FUZZ_PORT:-3290}"
venv="$HOME/.cache/tessera-schemathesis"

if [ "$("$venv/bin/st" --version 2>/dev/null)" != "st, version $SCHEMATHESIS_VERSION" ]; then
  echo "api-fuzz: installing schemathesis $SCHEMATHESIS_VERSION into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# The browser tests' server script: a fresh database under end2end/.data/PORT, a vendor key of
# its own, the administrator's password.
bash end2end/serve.sh "$port" >"$(mktemp)" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 600); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { echo "api-fuzz: the server did not start" >&2; exit 1; }
  sleep 0.1
done

"$venv/bin/python" scripts/api_fuzz.py "$base" "end2end/.data/$port" \
  target/release/tessera-vendor "$seconds"
