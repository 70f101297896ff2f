#!/usr/bin/env bash
# Socket benchmark against a release build on loopback, one run per kind of socket:
#   1. N idle authenticated connections; the server's RSS per connection   (goal <= 10 KiB)
#   2. one event at a time fanned out to all of them; delivery p50/p99      (goal p99 <= 100 ms at 10k)
#   3. the same client against a plain Node socket.io 4 server (bench/node), as the reference
# Usage: bench/sockets.sh [connections] [events per run, default 20]
#   PARLOR_BENCH_KINDS  which runs, default "ws sio node"
# Connections default to 20,000, or as many as one process may hold: a process may open at most
# `ulimit -Hn` descriptors (20,000 on the reference machine, and only root with CAP_SYS_RESOURCE
# may raise it); 40 are left for the process's own use.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
count=${1:-$((hard - 40 < 20000 ? hard - 40 : 20000))}
((count > 0)) || { echo "ulimit -Hn is $hard: too few descriptors for a socket benchmark" >&2; exit 1; }
events=${2:-20}

cargo build --release --quiet --bin parlor --example sockets_load
target_dir=$(parlor_target_dir)
ulimit -n "$hard"

kinds=${PARLOR_BENCH_KINDS:-ws sio node}
for kind in $kinds; do
    if [[ $kind == node ]]; then
        # The reference: a plain Node Socket.IO 4 server (bench/node), the same client, sio.
        ensure_command npm nodejs npm
        (cd bench/node && npm ci --no-audit --no-fund --silent)
        port=$(free_port)
        node bench/node/sio_reference.mjs "$port" >/dev/null &
        node_pid=$!
        trap 'kill $node_pid 2>/dev/null || true' EXIT
        until curl -s -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.1; done
        echo "== reference: Node $(node --version), socket.io $(node -p 'require("./bench/node/node_modules/socket.io/package.json").version')"
        "$target_dir/release/examples/sockets_load" "http://127.0.0.1:$port" "$node_pid" sio "$count" "$events"
        kill "$node_pid"
        wait "$node_pid" 2>/dev/null || true
        continue
    fi
    data_dir=$(mktemp -d)
    port=$(free_port)
    trap 'stop_parlor; rm -rf "$data_dir"' EXIT
    start_parlor "$target_dir/release/parlor" "$data_dir" "$port" PARLOR_LOG=warn \
        PARLOR_SERVER__CONNECTIONS_PER_ADDRESS=0 PARLOR_SERVER__MAX_CONNECTIONS=$((count + 10))
    "$target_dir/release/examples/sockets_load" "http://127.0.0.1:$port" "$PARLOR_PID" "$kind" "$count" "$events"
    stop_parlor
    rm -rf "$data_dir"
done
