#!/usr/bin/env bash
# Fan-out across instances: several release instances on one PostgreSQL and one Redis hold one
# authenticated socket for each member of one group (half plain WebSocket, half Socket.IO, from
# several load processes, each under the descriptor limit, every process spreading its sockets
# over every instance); one message at a time is then sent into the group on the first instance,
# and every other instance hears of it over the bus.
# Reports: delivery p50/p99/max (from each message's `created_at` to its arrival) and how many
# of the expected deliveries arrived; each instance's RSS per connection; Redis's CPU time and
# the bytes it took in and sent out during the fan-out, per message.
# Usage: bench/fanout.sh [members/sockets, default 100000] [messages, default 5]
#   PARLOR_BENCH_PERF       a file: `perf record` samples the second instance (a receiving one)
#                           through the fan-out into it, for `perf report -i`
#   PARLOR_BENCH_INSTANCES  instances, default 5, or more when 5 cannot hold the sockets: a
#                           process may open `ulimit -Hn` descriptors (20,000 here) and an
#                           instance keeps 1,000 of them for its database, files and refusals
#                           (DESIGN §13), so 100,000 sockets take six.
# Needs PostgreSQL at PARLOR_TEST_DATABASE_URL and Redis at PARLOR_TEST_REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
sockets=${1:-100000}
messages=${2:-5}
pg_url=${PARLOR_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
redis_url=${PARLOR_TEST_REDIS_URL:-redis://127.0.0.1:6379}
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
per_process=$((hard - 1000))
needed=$(((sockets + per_process - 1) / per_process))
instances=${PARLOR_BENCH_INSTANCES:-$((needed > 5 ? needed : 5))}
clients=$needed
cargo build --release --quiet --bin parlor --example fanout_load
target_dir=$(parlor_target_dir)
bin=$target_dir/release/parlor
load=$target_dir/release/examples/fanout_load
ulimit -n "$hard"
redis_host=$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 6379)' "$redis_url")
redis() { redis-cli -h "${redis_host% *}" -p "${redis_host#* }" "$@"; }

database=parlor_fanout_$$
psql "$pg_url" -qc "create database $database" >/dev/null
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}" $(cat "$work"/pid_* 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    sleep 2
    psql "$pg_url" -qc "drop database if exists $database" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
shared=(PARLOR_DATABASE_URL="${pg_url%/*}/$database" PARLOR_REDIS_URL="$redis_url" PARLOR_REDIS_PREFIX="parlor-fanout-$$"
    PARLOR_LOG=warn PARLOR_SERVER__CONNECTIONS_PER_ADDRESS=0 PARLOR_AUTH__KEYS_DIR="$work/keys"
    # PostgreSQL allows 100 connections; the instances share 80 of them.
    PARLOR_DATABASE_MAX_CONNECTIONS=$((80 / instances)))
bases=()
# The first instance makes the schema and the signing key; the others start once it is up.
for n in $(seq 1 "$instances"); do
    mkdir -p "$work/i$n"
    port=$(free_port)
    start_parlor "$bin" "$work/i$n" "$port" "${shared[@]}"
    echo "$PARLOR_PID" >"$work/pid_$n"
    bases+=("http://127.0.0.1:$port")
done
PARLOR_PID=""
all_bases=$(IFS=,; echo "${bases[*]}")
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
declare -A rss_before
for n in $(seq 1 "$instances"); do rss_before[$n]=$(rss "$(cat "$work/pid_$n")"); done

echo "== seeding $sockets members of one group"
"$load" seed "${pg_url%/*}/$database" "$work/keys" "${bases[0]}" "$sockets" "$work/ids"
per_client=$(((sockets + clients - 1) / clients))
for c in $(seq 0 $((clients - 1))); do
    from=$((c * per_client)) to=$(((c + 1) * per_client))
    "$load" hold mix "$work/ids" "$from" "$to" "$work/keys" "$all_bases" "$work/stop" >"$work/client_$c.out" 2>"$work/client_$c.err" &
    pids+=($!)
done
# Sum of one field over every client's latest line.
total() { local f; for f in "$work"/client_*.out; do tail -n 1 "$f"; done | python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    try: n += json.loads(line)[sys.argv[1]]
    except Exception: pass
print(n)' "$1"; }
started=$(date +%s)
while (($(total opened) + $(total failed) < sockets)); do
    (($(date +%s) - started > 900)) && break
    sleep 2
done
opened=$(total opened)
echo "== $opened of $sockets sockets open, $(total failed) failed, $(total retries) handshakes tried again, in $(($(date +%s) - started)) s over $instances instances from $clients load processes"
sleep 10
for n in $(seq 1 "$instances"); do
    pid=$(cat "$work/pid_$n")
    echo "instance $n: RSS $((rss_before[$n])) -> $(rss "$pid") KiB, $(ls "/proc/$pid/fd" | wc -l) descriptors"
done
((opened == sockets)) || { tail -n 3 "$work"/client_*.err; exit 1; }

info() { redis INFO "$1" | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'; }
redis_cpu0=$(python3 -c "print($(info cpu used_cpu_sys) + $(info cpu used_cpu_user))")
redis_in0=$(info stats total_net_input_bytes) redis_out0=$(info stats total_net_output_bytes)
declare -A cpu0
for n in $(seq 1 "$instances"); do cpu0[$n]=$(cpu "$(cat "$work/pid_$n")"); done
clients_cpu() { local pid t=0; for pid in "${pids[@]}"; do t=$((t + $(cpu "$pid"))); done; echo $t; }
clients_cpu0=$(clients_cpu)
if [[ -n ${PARLOR_BENCH_PERF:-} ]]; then
    perf record -q -F 499 -p "$(cat "$work/pid_2")" -o "$PARLOR_BENCH_PERF" 2>/dev/null &
    perf_pid=$!
fi
status=0
for m in $(seq 1 "$messages"); do
    answered=$("$load" send "${bases[0]}" "$work/ids" "$work/keys")
    waited=0
    while (($(total received) < m * opened)) && ((waited < 60)); do sleep 1; waited=$((waited + 1)); done
    echo "message $m: answered in $answered ms; $(total received) of $((m * opened)) deliveries so far"
done
redis_cpu1=$(python3 -c "print($(info cpu used_cpu_sys) + $(info cpu used_cpu_user))")
redis_in1=$(info stats total_net_input_bytes) redis_out1=$(info stats total_net_output_bytes)
[[ -n ${perf_pid:-} ]] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
servers=0
for n in $(seq 1 "$instances"); do
    spent=$(($(cpu "$(cat "$work/pid_$n")") - cpu0[$n]))
    servers=$((servers + spent))
    echo "instance $n: $(python3 -c "print($spent / 100)") s CPU in the fan-out"
done
python3 -c "print(f'CPU per delivery: instances {$servers * 1e4 / ($messages * $opened):.1f} µs, load clients {($(clients_cpu) - $clients_cpu0) * 1e4 / ($messages * $opened):.1f} µs')"
python3 -c "print(f'redis: {$redis_cpu1 - $redis_cpu0:.2f} s CPU; in {($redis_in1 - $redis_in0) / $messages / 1024:.0f} KiB, out {($redis_out1 - $redis_out0) / $messages / 1024:.0f} KiB per message')"
touch "$work/stop"
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
pids=()
cat "$work"/stop.* | python3 -c '
import sys
expected = int(sys.argv[1])
v = sorted(int(l) for l in sys.stdin if l.strip())
pct = lambda p: v[min(int(len(v) * p), len(v) - 1)] / 1000 if v else float("nan")
print(f"deliveries: {len(v)} of {expected}; p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, max {pct(1.0):.1f} ms")
sys.exit(0 if len(v) == expected else 1)' $((messages * opened)) || status=1
for c in $(seq 0 $((clients - 1))); do
    [[ -s $work/client_$c.err ]] && { echo "client $c said:"; head -n 5 "$work/client_$c.err"; }
done
for n in $(seq 1 "$instances"); do
    grep -E 'WARN|ERROR' "$work/i$n/server.log" | head -n 5 | sed "s/^/instance $n: /" || true
done
exit $status
