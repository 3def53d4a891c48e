#!/usr/bin/env bash
# Reproduces every figure of docs/PERFORMANCE.md ("The load generator") N times and prints
# min / median / max of each. Server and load generator are pinned to one core each.
#
#   cargo build --release -p versus-server -p versus-bench
#   bash crates/bench/reference.sh            # 3 runs of everything
#   RUNS=5 ONLY="idle durable" bash crates/bench/reference.sh
#
# Needs: taskset, jq, curl, a 20,000-file ulimit (ulimit -n 20000). Everything listens on
# 127.0.0.1 only. Each run starts a fresh server on a fresh SQLite database in $WORK.
# Figures (ONLY picks some): idle durable latency floor recovery realtime
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
VERSUS="${VERSUS:-$TARGET/release/versus}"
BENCH="${BENCH:-$TARGET/release/versus-bench}"
RUNS="${RUNS:-3}"
ONLY="${ONLY:-idle durable latency floor recovery realtime}"
WORK="${WORK:-$(mktemp -d /tmp/versus-ref.XXXXXX)}"
PORT="${PORT:-18080}"
FLOOR_PORT="${FLOOR_PORT:-19000}"
SERVER_CPU="${SERVER_CPU:-0}"
BENCH_CPU="${BENCH_CPU:-1}"
IDLE="${IDLE:-10000}"           # idle connections for the memory figure
PLAYERS="${PLAYERS:-19000}"     # players in live games (9,500 games)
RATE="${RATE:-9500}"            # open-loop moves/s for the latency figure
DURABLE_PLAYERS="${DURABLE_PLAYERS:-2000}" # closed loop: as fast as the server goes
DURATION="${DURATION:-20}"
REALTIME="${REALTIME:-200}"     # real-time players (lightcycles, 2 per session, 20 Hz)
CONNECT_RATE="${CONNECT_RATE:-500}"

ulimit -n 20000 || true
[ -x "$VERSUS" ] && [ -x "$BENCH" ] || { echo "build first: cargo build --release -p versus-server -p versus-bench" >&2; exit 2; }
mkdir -p "$WORK"
echo "results in $WORK" >&2

SERVER_PID=""
start_server() { # $1 = data dir
    mkdir -p "$1"
    # Knobs for a load test: guests are created without argon2; login throttles do not apply
    # (no logins); every client comes from 127.0.0.1, so the per-address request and
    # connection limits, including the cap on open connections (docs/SECURITY.md, "Floods"),
    # and the per-connection message credits are turned off (0), as an operator would for a
    # load generator behind one address.
    VERSUS_LISTEN="127.0.0.1:$PORT" VERSUS_DATA_DIR="$1" VERSUS_LOG_LEVEL=warn \
    VERSUS_CHAT_BURST=1000 VERSUS_CHAT_REFILL_MS=1 \
    VERSUS_HTTP_REQUESTS_PER_SECOND_PER_ADDRESS=0 VERSUS_CONNECTIONS_PER_SECOND_PER_ADDRESS=0 \
    VERSUS_MAX_CONNECTIONS_PER_ADDRESS=0 \
    VERSUS_WS_MESSAGES_PER_SECOND=0 \
        taskset -c "$SERVER_CPU" "$VERSUS" serve >"$1/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "the server did not become ready; see $1/server.log" >&2
    return 1
}
stop_server() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
trap 'stop_server; [ -n "${FLOOR_PID:-}" ] && kill "$FLOOR_PID" 2>/dev/null || true' EXIT

bench() { # $1 = json out, rest = args
    local out="$1"; shift
    taskset -c "$BENCH_CPU" "$BENCH" run --quiet --url "http://127.0.0.1:$PORT" \
        --connect-rate "$CONNECT_RATE" --json "$out" "$@" >"$out.txt" 2>&1 || {
        echo "bench failed or verification violated: $out.txt" >&2; cat "$out.txt" >&2; }
}

# Prints "name: min / median / max unit" over the values given on stdin (one per line).
summary() {
    sort -g | awk -v name="$1" -v unit="$2" '
        { v[NR] = $1 } END {
            if (NR == 0) { printf "%-52s (no data)\n", name; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%-52s %10.2f / %10.2f / %10.2f %s  (%d runs)\n", name, v[1], m, v[NR], unit, NR }'
}
field() { # $1 = jq path, files...
    local path="$1"; shift
    for f in "$@"; do if [ -s "$f" ]; then jq -r "$path // empty" "$f"; fi; done
}

for r in $(seq 1 "$RUNS"); do
    d="$WORK/run$r"; mkdir -p "$d"
    if [[ " $ONLY " == *" idle "* ]]; then
        start_server "$d/idle"
        bench "$d/idle.json" --idle "$IDLE" --duration 5 --server-pid "$SERVER_PID"
        stop_server
    fi
    if [[ " $ONLY " == *" realtime "* ]]; then
        start_server "$d/realtime"
        bench "$d/realtime.json" --realtime "$REALTIME" --duration "$DURATION" --server-pid "$SERVER_PID"
        stop_server
    fi
    if [[ " $ONLY " == *" durable "* ]]; then
        start_server "$d/durable"
        bench "$d/durable.json" --play "$DURABLE_PLAYERS" --duration "$DURATION" --server-pid "$SERVER_PID"
        stop_server
    fi
    if [[ " $ONLY " == *" latency "* ]]; then
        start_server "$d/latency"
        bench "$d/latency.json" --play "$PLAYERS" --rate "$RATE" --duration "$DURATION" --server-pid "$SERVER_PID"
        stop_server
    fi
    if [[ " $ONLY " == *" floor "* ]]; then
        taskset -c "$SERVER_CPU" "$BENCH" floor-server --listen "127.0.0.1:$FLOOR_PORT" 2>"$d/floor.log" &
        FLOOR_PID=$!
        sleep 0.5
        taskset -c "$BENCH_CPU" "$BENCH" run --quiet --floor --url "http://127.0.0.1:$FLOOR_PORT" \
            --play "$DURABLE_PLAYERS" --duration "$DURATION" --server-pid "$FLOOR_PID" \
            --connect-rate "$CONNECT_RATE" --json "$d/floor-closed.json" >"$d/floor-closed.json.txt" 2>&1 || true
        taskset -c "$BENCH_CPU" "$BENCH" run --quiet --floor --url "http://127.0.0.1:$FLOOR_PORT" \
            --play "$PLAYERS" --rate "$RATE" --duration "$DURATION" --server-pid "$FLOOR_PID" \
            --connect-rate "$CONNECT_RATE" --json "$d/floor-latency.json" >"$d/floor-latency.json.txt" 2>&1 || true
        kill "$FLOOR_PID" 2>/dev/null; wait "$FLOOR_PID" 2>/dev/null || true; FLOOR_PID=""
        # Idle memory on the floor: connections held (open loop at a tiny rate).
        taskset -c "$SERVER_CPU" "$BENCH" floor-server --listen "127.0.0.1:$FLOOR_PORT" 2>>"$d/floor.log" &
        FLOOR_PID=$!
        sleep 0.5
        taskset -c "$BENCH_CPU" "$BENCH" run --quiet --floor --url "http://127.0.0.1:$FLOOR_PORT" \
            --play "$IDLE" --rate 1 --duration 5 --server-pid "$FLOOR_PID" \
            --connect-rate "$CONNECT_RATE" --json "$d/floor-idle.json" >"$d/floor-idle.json.txt" 2>&1 || true
        kill "$FLOOR_PID" 2>/dev/null; wait "$FLOOR_PID" 2>/dev/null || true; FLOOR_PID=""
    fi
    if [[ " $ONLY " == *" recovery "* ]]; then
        # PLAYERS players in PLAYERS/2 games at a low open-loop rate; 10 s after they are connected, the server is
        # killed (kill -9) and restarted on the same database. Measured: restart → ready, and
        # the clients' dropped → resumed times (max = all resumed).
        start_server "$d/recovery"
        bench "$d/recovery.json" --play "$PLAYERS" --rate 1000 --duration 90 --resume-timeout 60 &
        BPID=$!
        # Wait until (95 % of) the players are connected, then 10 s more; the kill must land
        # inside the bench's 90 s run.
        for _ in $(seq 1 600); do
            live=$(curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null | awk '/^ws_connections /{print $2}' || true)
            [ -n "$live" ] && [ "${live%.*}" -ge $((PLAYERS * 95 / 100)) ] && break
            sleep 0.5
        done
        sleep 10
        kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
        t0=$(date +%s.%N)
        start_server "$d/recovery"
        t1=$(date +%s.%N)
        echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}' >"$d/recovery.ready_s"
        wait "$BPID" || true
        stop_server
    fi
done

echo
echo "== figures over $RUNS run(s): min / median / max =="
cd "$WORK"
field '.server.memory_per_connection_bytes / 1024' run*/idle.json | summary "versus: memory per idle connection" KiB
field '.server.memory_per_connection_bytes / 1024' run*/floor-idle.json | summary "floor: memory per idle connection" KiB
field '.play.moves_per_s' run*/durable.json | summary "versus: durable moves/s, closed loop, $DURABLE_PLAYERS players" moves/s
field '.server.cpu_us_per_move' run*/durable.json | summary "versus: server CPU per durable move (closed loop)" µs
field '.play.moves_per_s' run*/floor-closed.json | summary "floor: moves/s, closed loop, $DURABLE_PLAYERS players" moves/s
field '.server.cpu_us_per_move' run*/floor-closed.json | summary "floor: server CPU per move (closed loop)" µs
field '.clients.live_at_start' run*/latency.json | summary "versus: players connected in live games" conns
field '.play.moves_per_s' run*/latency.json | summary "versus: moves/s at $PLAYERS players, open loop $RATE/s" moves/s
field '.play.to_opponent.p99_us / 1000' run*/latency.json | summary "versus: p99 move → opponent at $PLAYERS players" ms
field '.play.to_opponent.p50_us / 1000' run*/latency.json | summary "versus: p50 move → opponent" ms
field '.play.to_opponent.max_us / 1000' run*/latency.json | summary "versus: max move → opponent" ms
field '.play.to_ack.p99_us / 1000' run*/latency.json | summary "versus: p99 move → ack" ms
field '.server.cpu_us_per_move' run*/latency.json | summary "versus: server CPU per durable move (open loop)" µs
field '.play.to_opponent.p99_us / 1000' run*/floor-latency.json | summary "floor: p99 move → opponent at $PLAYERS players" ms
field '.server.cpu_us_per_move' run*/floor-latency.json | summary "floor: server CPU per move (open loop)" µs
cat run*/recovery.ready_s 2>/dev/null | summary "versus: kill -9 → restarted and ready" s
field '.reconnect.resume.max_us / 1000000' run*/recovery.json | summary "versus: dropped → all clients resumed (max)" s
field '.reconnect.resumes' run*/recovery.json | summary "versus: clients resumed after the restart" clients
field '.realtime.bytes_per_player_per_s' run*/realtime.json | summary "versus: real-time bytes per player per second ($REALTIME players)" B/s
field '.realtime.ticks_per_player_per_s' run*/realtime.json | summary "versus: real-time ticks per player per second" ticks/s
field '.realtime.input_to_ack.p99_us / 1000' run*/realtime.json | summary "versus: p99 input → input_accepted" ms
field '.realtime.input_to_tick.p99_us / 1000' run*/realtime.json | summary "versus: p99 input → its tick" ms
field '.server.cpu_cores' run*/realtime.json | summary "versus: server CPU, $REALTIME real-time players" cores
field '.verification.violations' run*/*.json | summary "verification violations (all runs)" ""
