#!/usr/bin/env bash
# Schema-based API fuzzing: schemathesis (from PyPI, in a venv cached outside the clone)
# against /api/openapi.json of a running `versus` debug build, for a bounded time.
# Fails on any 5xx, any status code the OpenAPI document does not list, any response that
# breaks its own schema, content type or documented headers.
#
# Usage: bash .ci/schemathesis.sh [SECONDS]   (default 180; needs $CARGO_TARGET_DIR/debug/versus)
# Overridable: VERSUS_TOOLS (default /var/tmp/versus-tools), SCHEMATHESIS_VERSION.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-180}"
tools="${VERSUS_TOOLS:-/var/tmp/versus-tools}"
version="${SCHEMATHESIS_VERSION:-4.32.5}"
venv="$tools/schemathesis-$version"
bin="${CARGO_TARGET_DIR:-/var/tmp/versus-target}/debug/versus"
[[ -x "$bin" ]] || { echo "schemathesis: build the server first ($bin)" >&2; exit 1; }

if [[ ! -f "$venv/.complete" ]]; then
    echo "installing schemathesis $version into $venv"
    rm -rf "$venv"
    mkdir -p "$tools"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
    touch "$venv/.complete"
fi
"$venv/bin/schemathesis" --version

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# A fresh server on a free port. The flood limits are off: schemathesis is one client
# sending thousands of requests (the limits have their own tests).
VERSUS_HTTP_REQUESTS_PER_SECOND_PER_ADDRESS=0 \
VERSUS_CONNECTIONS_PER_SECOND_PER_ADDRESS=0 \
VERSUS_LOGIN_MAX_FAILURES_PER_ACCOUNT=1000000 \
VERSUS_LOGIN_MAX_FAILURES_PER_ADDRESS=1000000 \
VERSUS_MAX_OPEN_GAMES_PER_PLAYER=0 \
VERSUS_LOG_LEVEL=info \
    "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" --log-format json \
    >"$work/server.log" 2>&1 &
server_pid=$!
addr=""
for _ in $(seq 1 100); do
    addr=$(grep -o '"addr":"[0-9.:]*"' "$work/server.log" | head -1 | cut -d'"' -f4 || true)
    [[ -n "$addr" ]] && break
    sleep 0.2
done
if [[ -z "$addr" ]]; then
    cat "$work/server.log" >&2
    echo "schemathesis: the server did not report its address" >&2
    exit 1
fi
base="http://$addr"
echo "server at $base"

# A token, so the authenticated routes are reached (a registered player: guests cannot
# use every route).
token=$(curl -fsS -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
    -d '{"username":"fuzzer","email":"fuzzer@example.com","password":"fuzzing password 1"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

# (From the scratch folder: schemathesis keeps its example database in the working folder.)
(cd "$work" && "$venv/bin/schemathesis" run "$base/api/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --header "Authorization: Bearer $token" \
    --max-time "$seconds" \
    --workers 2 \
    --request-timeout 10 \
    --suppress-health-check all \
    --warnings off \
    --seed 1)
status=$?
if grep -q '"level":"ERROR"' "$work/server.log"; then
    echo "schemathesis: the server logged errors:" >&2
    grep '"level":"ERROR"' "$work/server.log" | head -20 >&2
    exit 1
fi
exit $status
