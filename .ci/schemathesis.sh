#!/usr/bin/env bash
# Schema-based API fuzzing: schemathesis (from PyPI, in a venv cached outside the clone)
# against /api/openapi.json of a running `versus` debug build, for a bounded time.
# Fails on any 5xx, any status code the OpenAPI document does not list, any response that
# breaks its own schema, content type or documented headers, and any ERROR in the server log.
#
# Two passes, each against a fresh server:
#   1. the flood limits off (schemathesis is one client sending thousands of requests), for
#      SECONDS: the handlers' own responses;
#   2. the flood limits on and low, for LIMITED_SECONDS: most requests are answered by the
#      per-address limit, so a 429 (or anything else the middleware answers) that an
#      operation does not document fails the run. The pass fails too if the limit never
#      answered (it would prove nothing).
#
# Usage: bash .ci/schemathesis.sh [SECONDS] [LIMITED_SECONDS]
#        (defaults 180 and 30; needs $CARGO_TARGET_DIR/debug/versus)
# Overridable: VERSUS_TOOLS (default /var/tmp/versus-tools), SCHEMATHESIS_VERSION.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-180}"
limited_seconds="${2:-30}"
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
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT

# start_server NAME [VAR=VALUE...]: a fresh server on a free port with its own data folder,
# logging JSON to $work/NAME.log; sets $base.
start_server() {
    local name="$1"
    shift
    mkdir -p "$work/$name"
    env "$@" VERSUS_LOG_LEVEL=info \
        "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/$name/data" --log-format json \
        >"$work/$name.log" 2>&1 &
    server_pid=$!
    local addr=""
    for _ in $(seq 1 100); do
        addr=$(grep -o '"addr":"[0-9.:]*"' "$work/$name.log" | head -1 | cut -d'"' -f4 || true)
        [[ -n "$addr" ]] && break
        sleep 0.2
    done
    if [[ -z "$addr" ]]; then
        cat "$work/$name.log" >&2
        echo "schemathesis: the server did not report its address" >&2
        exit 1
    fi
    base="http://$addr"
    echo "server ($name) at $base"
}

# fuzz NAME SECONDS: registers a player (so the authenticated routes are reached: guests
# cannot use every route), runs schemathesis with its token, then fails on any ERROR line in
# the server's log.
fuzz() {
    local name="$1" secs="$2" token
    token=$(curl -fsS -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
        -d '{"username":"fuzzer","email":"fuzzer@example.com","password":"fuzzing password 1"}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    # (From the pass's scratch folder: schemathesis keeps its example database in the working
    # folder.)
    (cd "$work/$name" && "$venv/bin/schemathesis" run "$base/api/openapi.json" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
        --mode all \
        --header "Authorization: Bearer $token" \
        --max-time "$secs" \
        --workers 2 \
        --request-timeout 10 \
        --suppress-health-check all \
        --warnings off \
        --seed 1)
    if grep -q '"level":"ERROR"' "$work/$name.log"; then
        echo "schemathesis ($name): the server logged errors:" >&2
        grep '"level":"ERROR"' "$work/$name.log" | head -20 >&2
        exit 1
    fi
}

# Pass 1: the flood limits off (they have their own tests), so the handlers answer.
start_server open \
    VERSUS_HTTP_REQUESTS_PER_SECOND_PER_ADDRESS=0 \
    VERSUS_CONNECTIONS_PER_SECOND_PER_ADDRESS=0 \
    VERSUS_LOGIN_MAX_FAILURES_PER_ACCOUNT=1000000 \
    VERSUS_LOGIN_MAX_FAILURES_PER_ADDRESS=1000000 \
    VERSUS_MAX_OPEN_GAMES_PER_PLAYER=0
fuzz open "$seconds"
stop_server

# Pass 2: the limits on, the request limit low (20/s, burst 40, against two workers sending
# as fast as they can), the login and open-games limits at their defaults.
start_server limited \
    VERSUS_HTTP_REQUESTS_PER_SECOND_PER_ADDRESS=20 \
    VERSUS_HTTP_BURST_PER_ADDRESS=40
fuzz limited "$limited_seconds"
stop_server
refused=$(grep -c '"status":429' "$work/limited.log" || true)
echo "schemathesis (limited): $refused requests answered 429"
if [[ "$refused" -lt 1 ]]; then
    echo "schemathesis (limited): the request limit never answered; the pass proved nothing" >&2
    exit 1
fi
