#!/usr/bin/env bash
# Presence under churn, against a release build on loopback: N users (default 10,000), each in a
# group of 50 and online over a plain WebSocket, then every connection flapping (closed, opened
# again 0.2–2 s later) once every P seconds on average (default 10). Reported per run: the
# server's CPU idle and while flapping, and the presence.changed frames all clients received.
# Runs: the default quiet time (10 s) and none (every change announced), each on its own and,
# when Redis answers at PARLOR_TEST_REDIS_URL (default redis://127.0.0.1:6379), on Redis.
# Usage: bench/presence.sh [users] [seconds flapping, default 60] [flap every, seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
users=${1:-10000}
seconds=${2:-60}
every=${3:-10}
redis_url=${PARLOR_TEST_REDIS_URL:-redis://127.0.0.1:6379}
redis_hp=$(sed -E 's|^[a-z]+://([^@/]*@)?([^/?]+).*|\2|' <<<"$redis_url")

cargo build --release --quiet --bin parlor --example presence_load
target_dir=$(parlor_target_dir)
ulimit -n "$(ulimit -Hn)"

seeded=$(mktemp -d)
data_dir=""
trap 'stop_parlor; rm -rf "$seeded" "$data_dir"' EXIT
"$target_dir/release/examples/presence_load" seed "$seeded/data" "$users" "$seeded/tokens"

backends=(alone)
reachable "${redis_hp%%:*}" "${redis_hp##*:}" && backends+=(redis)
for backend in "${backends[@]}"; do
    for quiet in 10 0; do
        data_dir=$(mktemp -d)
        cp -r "$seeded/data/." "$data_dir/"
        extra=(PARLOR_LOG=warn PARLOR_REALTIME__PRESENCE_QUIET_SECS=$quiet PARLOR_SERVER__CONNECTIONS_PER_ADDRESS=0)
        [[ $backend == redis ]] && extra+=(PARLOR_REDIS_URL="$redis_url" PARLOR_REDIS_PREFIX="parlor-bench-$RANDOM$RANDOM")
        port=$(free_port)
        start_parlor "$target_dir/release/parlor" "$data_dir" "$port" "${extra[@]}"
        echo "== $users users, groups of 50, flapping every ${every} s on average for ${seconds} s; presence ${backend/alone/in process}, quiet time ${quiet} s"
        "$target_dir/release/examples/presence_load" flap "http://127.0.0.1:$port" "$PARLOR_PID" "$seeded/tokens" "$seconds" "$every"
        stop_parlor
        rm -rf "$data_dir"
    done
done
