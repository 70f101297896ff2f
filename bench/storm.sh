#!/usr/bin/env bash
# Reconnect storm: two release instances on one PostgreSQL and one Redis hold 10,000 Socket.IO
# and 10,000 plain WebSocket clients (two load processes, each spreading its sockets over both
# instances); both instances are then restarted at once (SIGTERM: every socket is told to
# reconnect; then a new process on the same port), and every client reconnects with capped
# exponential backoff and full jitter, trying the other instance on its next attempt. Instance A
# is capped below its share (`server.max_connections`), so some attempts meet a full server and
# must be told so (503 `server_full`) rather than left waiting.
# Reports: the time until 100 % are back (p50/p99/max per socket), refusals by kind, attempts
# that hung, and each instance's peak RSS (VmHWM of the new process, which lived through the
# storm) and its RSS with every socket back.
# Usage: bench/storm.sh [sockets per kind, default 10000] [A's cap, default 9000]
# Needs PostgreSQL at PARLOR_TEST_DATABASE_URL and Redis at PARLOR_TEST_REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
per_kind=${1:-10000}
cap_a=${2:-9000}
pg_url=${PARLOR_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
redis_url=${PARLOR_TEST_REDIS_URL:-redis://127.0.0.1:6379}
cargo build --release --quiet --bin parlor --example storm_load
target_dir=$(parlor_target_dir)
bin=$target_dir/release/parlor
ulimit -n "$(ulimit -Hn)"

database=parlor_storm_$$
psql "$pg_url" -qc "create database $database" >/dev/null
dir_a=$(mktemp -d) dir_b=$(mktemp -d) work=$(mktemp -d)
port_a=$(free_port) port_b=$(free_port)
pids=()
cleanup() {
    for pid in "${pids[@]}" $(cat "$work"/pid_* 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    sleep 1
    psql "$pg_url" -qc "drop database if exists $database" >/dev/null 2>&1 || true
    rm -rf "$dir_a" "$dir_b" "$work"
}
trap cleanup EXIT
shared=(PARLOR_DATABASE_URL="${pg_url%/*}/$database" PARLOR_REDIS_URL="$redis_url" PARLOR_REDIS_PREFIX="parlor-storm-$$"
    PARLOR_LOG=warn PARLOR_SERVER__CONNECTIONS_PER_ADDRESS=0 PARLOR_LIMITS__REGISTRATIONS_PER_HOUR=1000)
start() { # start NAME: on its port and data directory; pid in $work/pid_NAME
    local name=$1 dir port extra=()
    if [[ $name == a ]]; then dir=$dir_a port=$port_a extra=(PARLOR_SERVER__MAX_CONNECTIONS="$cap_a"); else dir=$dir_b port=$port_b; fi
    start_parlor "$bin" "$dir" "$port" "${shared[@]}" "${extra[@]}"
    echo "$PARLOR_PID" >"$work/pid_$name"
}
start a
start b
PARLOR_PID=""
bases=http://127.0.0.1:$port_a,http://127.0.0.1:$port_b

for kind in ws sio; do
    "$target_dir/release/examples/storm_load" "$kind" "$per_kind" "$bases" 180 >"$work/$kind.out" 2>"$work/$kind.err" &
    pids+=($!)
done
total=$((2 * per_kind))
connected() { local n=0 kind; for kind in ws sio; do n=$((n + $(tail -n 1 "$work/$kind.out" 2>/dev/null | python3 -c 'import json,sys
try: print(json.loads(sys.stdin.read())["connected"])
except Exception: print(0)'))); done; echo $n; }
for _ in $(seq 1 300); do (($(connected) >= total)) && break; sleep 1; done
held=$(connected)
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
echo "== $held of $total sockets open (A $(rss "$(cat "$work/pid_a")") KiB, B $(rss "$(cat "$work/pid_b")") KiB RSS); restarting both instances"
((held >= total)) || { tail -n 3 "$work"/*.out "$work"/*.err; exit 1; }
sleep 3

for name in a b; do kill -TERM "$(cat "$work/pid_$name")"; done
for name in a b; do
    wait_gone "$(cat "$work/pid_$name")"
    mv "$([[ $name == a ]] && echo "$dir_a" || echo "$dir_b")/server.log" "$work/$name-before.log"
    start "$name"
done
echo "== storm: both instances restarted"
# Every client prints its summary once all its sockets are back and holds them 30 s more.
for _ in $(seq 1 200); do
    (($(cat "$work"/ws.out "$work"/sio.out 2>/dev/null | grep -c '"summary"') >= 2)) && break
    sleep 1
done
sleep 2
report=()
for name in a b; do
    pid=$(cat "$work/pid_$name")
    report+=("instance ${name^^}: peak RSS $(awk '/^VmHWM/ {print $2}' "/proc/$pid/status") KiB, with the sockets back $(rss "$pid") KiB and $(ls "/proc/$pid/fd" | wc -l) descriptors")
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
pids=()
for kind in ws sio; do
    grep '"summary"' "$work/$kind.out" || { echo "$kind: no summary"; tail -n 3 "$work/$kind.out" "$work/$kind.err"; status=1; }
    [[ -s $work/$kind.err ]] && { echo "$kind client said:"; head -n 5 "$work/$kind.err"; }
done
printf '%s\n' "${report[@]}"
exit $status
