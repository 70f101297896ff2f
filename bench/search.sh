#!/usr/bin/env bash
# Search and export benchmark (bench/search_load.rs), release build, on SQLite and then on PostgreSQL:
#   upgrade time for the migration that indexes N existing texts, and the index's size
#   search p50/p99 (first page of 20): a rare word, a common word, a Japanese phrase, across all
#   my chats and within one chat of N/10 messages (goal: p99 <= 50 ms); the common word's second page
#   send throughput with the index and with the trigram index dropped (indexing's cost per send)
#   the data export of a user with N/10 messages: time, archive size, peak RSS
# Usage: bench/search.sh [messages, default 1000000]
#   PARLOR_TEST_DATABASE_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test);
#                             skipped when not reachable
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
messages=${1:-1000000}

cargo build --release --quiet --example search_load
bin="$(parlor_target_dir)/release/examples/search_load"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" "sqlite://$dir/bench.db?mode=rwc" "$messages"
rm -f "$dir"/bench.db*

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
"$bin" "${base%/*}/$database" "$messages"
