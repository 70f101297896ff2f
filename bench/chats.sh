#!/usr/bin/env bash
# Chat benchmark (bench/chat_load.rs), release build, on SQLite and then on PostgreSQL:
#   history page p50/p99 at the newest end and 90 % deep, 10,000 vs N messages (goal: flat, p99 <= 5 ms),
#   and the newest page again with reactions on every message
#   send throughput with 2 members, from 8 senders into direct chats of their own (goal: >= 2,000/s
#   on PostgreSQL, beside pgbench on the same server; >= 2,500/s on SQLite), into 1,000- and
#   10,000-member groups offline (goal: >= 0.8 x the direct chat), and with a 1,000-member group
#   online
#   GET /api/v1/chats for a user in 500 chats, and keyset pages of 50 for one in 5,000
#   the pages /chats/{id} (10,000 and N messages) and /chats (500 chats) on a page session
# Usage: bench/chats.sh [messages in the big chat, default 1000000]
#   PARLOR_TEST_DATABASE_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test);
#                             skipped when not reachable
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
messages=${1:-1000000}

cargo build --release --quiet --example chat_load
bin="$(parlor_target_dir)/release/examples/chat_load"
ulimit -n "$(ulimit -Hn)"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" "sqlite://$dir/bench.db?mode=rwc" "$messages"

pg_url=${PARLOR_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
hp=$(sed -E 's|^[a-z]+://([^@/]*@)?([^/?]+).*|\2|' <<<"$pg_url")
if ! reachable "${hp%%:*}" "${hp##*:}"; then
    echo "== postgres: not reachable at $hp; skipped"
    exit 0
fi
database=parlor_bench_$(python3 -c 'import uuid; print(uuid.uuid4().hex[:12])')
psql "$pg_url" -qc "create database $database" >/dev/null
trap 'psql "$pg_url" -qc "drop database if exists $database" >/dev/null 2>&1; rm -rf "$dir"' EXIT
base=${pg_url%%\?*}
# The machine's reference: PostgreSQL's own benchmark on the same server, just before, with the
# same eight clients (simple-update: three writes and a read per transaction).
if command -v pgbench >/dev/null; then
    pgbench -i -q -s 8 "${base%/*}/$database" >/dev/null 2>&1
    echo "== pgbench -N (simple-update), 8 clients, 2 threads, 15 s, on the same server"
    pgbench -N -c 8 -j 2 -T 15 "${base%/*}/$database" 2>/dev/null | grep -E '^(tps|latency average)'
else
    echo "== pgbench not installed: no reference figure"
fi
"$bin" "${base%/*}/$database" "$messages"
