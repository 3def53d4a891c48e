#!/usr/bin/env bash
# No secret or personal data in the logs of a whole test run.
#
# The API tests' harness (crates/server/tests/api/helpers.rs), run with VERSUS_TEST_LOG_DIR
# set, writes every test server's log into that folder (`api-<pid>.log` for the in-process
# servers at debug level, `binary-<pid>.log` for each `versus` process) and records every
# secret or personal value the tests created (passwords, bearer tokens and their SHA-256,
# email addresses, invite-link codes and their SHA-256, keys) in `secrets-<pid>.txt`.
#
# This script searches every log for every recorded value, and for patterns no log line may
# hold (a bearer token, a password field, an argon2 hash, an email address), and fails with
# the file, line and what matched. It also fails when there is nothing to search, which
# would prove nothing.
#
# Usage: bash .ci/secrets-in-logs.sh DIR
set -euo pipefail

dir="${1:?usage: bash .ci/secrets-in-logs.sh DIR}"
fail() {
    printf 'secrets-in-logs: %s\n' "$*" >&2
    exit 1
}
[[ -d "$dir" ]] || fail "$dir is not a folder (was VERSUS_TEST_LOG_DIR set for the tests?)"
shopt -s nullglob
logs=("$dir"/*.log)
recorded=("$dir"/secrets-*.txt)
((${#logs[@]} > 0)) || fail "no logs in $dir"
((${#recorded[@]} > 0)) || fail "no recorded secrets in $dir"

values=$(mktemp)
hits=$(mktemp)
trap 'rm -f "$values" "$hits"' EXIT
sort -u "${recorded[@]}" | grep -v '^$' >"$values" || true
count=$(wc -l <"$values")
lines=$(cat "${logs[@]}" | wc -l)
((count > 0)) || fail "the recorded secrets are empty"
((lines > 0)) || fail "the logs are empty"
echo "searching ${#logs[@]} log files ($lines lines) for $count recorded values"

found=0
# Every recorded value, as a fixed string. (-o: print what matched, not the whole line.)
if grep -HnoF -f "$values" "${logs[@]}" >"$hits"; then
    echo "secrets-in-logs: recorded secrets found in the logs:" >&2
    head -50 "$hits" >&2
    found=1
fi
# Patterns: a bearer token, a password field (key = value or "key": value), a PHC argon2
# hash, an email address.
patterns='Bearer [A-Za-z0-9._~+/-]{8,}|(^|[^A-Za-z_])"?(old_|new_)?password"?[[:space:]]*[:=]|\$argon2(id|i|d)\$|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}'
if grep -HnoE "$patterns" "${logs[@]}" >"$hits"; then
    echo "secrets-in-logs: log lines that look like secrets or personal data:" >&2
    head -50 "$hits" >&2
    found=1
fi
((found == 0)) || fail "the logs above hold secrets or personal data (see docs/SECURITY.md)"
echo "no recorded secret and no secret-looking pattern in the logs"
