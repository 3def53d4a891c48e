#!/usr/bin/env bash
# CI for the browser client (web/): installs what it needs on a new machine, checks that the
# generated and vendored files are current, type-checks, and runs the browser tests against
# the real server binary.
#
#   VERSUS_BIN=/var/tmp/versus-target/debug/versus bash web/ci.sh
#
# Required:
#   VERSUS_BIN   the `versus` binary to test (build it first: cargo build -p versus-server;
#                it lives in $CARGO_TARGET_DIR, outside the repository in CI)
# Needs: Node.js 20+ with npm (registry access), and apt-get when /usr/bin/chromium is
# missing. Optional: CHROMIUM (default /usr/bin/chromium), TEST_LOG=1 (echo server logs),
# VERSUS_TEST_POSTGRES_URL (a PostgreSQL server: the social and matchmaking browser tests run
# again with each server on a fresh database there; needs psql, installed with apt-get when
# missing; required when CI is set).
# Screenshots and server logs are written to web/artifacts/ (git-ignored).
set -euo pipefail

web="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$web"
started=$SECONDS

section() {
    printf '\n==> web: %s (at %ss)\n' "$*" "$((SECONDS - started))"
}

fail() {
    printf 'web/ci.sh: %s\n' "$*" >&2
    exit 1
}

section "server binary"
[[ -n "${VERSUS_BIN:-}" ]] || fail "set VERSUS_BIN to the versus binary (cargo build -p versus-server, then \$CARGO_TARGET_DIR/debug/versus)"
VERSUS_BIN="$(cd "$(dirname "$VERSUS_BIN")" 2>/dev/null && pwd)/$(basename "$VERSUS_BIN")" \
    || fail "VERSUS_BIN=$VERSUS_BIN: no such directory"
[[ -x "$VERSUS_BIN" ]] || fail "VERSUS_BIN=$VERSUS_BIN is not an executable file"
export VERSUS_BIN
"$VERSUS_BIN" --version

section "chromium"
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
    [[ "$chromium" == /usr/bin/chromium ]] || fail "CHROMIUM=$chromium is not executable"
    command -v apt-get >/dev/null 2>&1 || fail "/usr/bin/chromium is missing and apt-get is not available to install it"
    sudo=""
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || fail "installing chromium needs root or sudo"
        sudo="sudo"
    fi
    echo "installing Debian's chromium with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
"$chromium" --version

section "node"
command -v node >/dev/null 2>&1 || fail "Node.js 20 or newer is needed for the web checks (not for building the server)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" -ge 20 ]] || fail "Node.js 20 or newer is needed; found $(node --version)"
echo "node $(node --version), npm $(npm --version)"

section "npm ci"
npm ci --no-audit --no-fund --loglevel=error

section "generated types and vendored modules are current"
node scripts/gen-types.mjs --check
node scripts/vendor.mjs --check

section "tsc --noEmit -p web"
npx --no-install tsc --noEmit -p .
echo "types check"

section "browser tests (node --test tests/*.test.mjs)"
rm -rf artifacts
mkdir -p artifacts
node --test --test-concurrency=1 --test-timeout=180000 tests/*.test.mjs

section "browser tests on PostgreSQL (social, matchmaking)"
if [[ -n "${VERSUS_TEST_POSTGRES_URL:-}" ]]; then
    if ! command -v psql >/dev/null 2>&1; then
        command -v apt-get >/dev/null 2>&1 || fail "psql is missing and apt-get is not available to install it"
        sudo=""
        if [[ "$(id -u)" != 0 ]]; then
            command -v sudo >/dev/null 2>&1 || fail "installing psql needs root or sudo"
            sudo="sudo"
        fi
        echo "installing Debian's postgresql-client with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq --no-install-recommends postgresql-client >/dev/null
    fi
    VERSUS_WEB_POSTGRES_URL="$VERSUS_TEST_POSTGRES_URL" \
        node --test --test-concurrency=1 --test-timeout=180000 tests/social.test.mjs tests/matchmaking.test.mjs
elif [[ -n "${CI:-}" ]]; then
    fail "VERSUS_TEST_POSTGRES_URL is not set, but CI is: the PostgreSQL browser tests must run in CI"
else
    echo "skipped: set VERSUS_TEST_POSTGRES_URL to run them"
fi

section "done in $((SECONDS - started))s; screenshots in web/artifacts/"
ls artifacts
