#!/usr/bin/env bash
# Hang-up load on PostgreSQL (bench/hangups.py): a release server takes HANGUPS requests (sends,
# likes, profile edits) whose clients close the connection 0-10 ms after sending, then ACKED
# likes that it acknowledges. After the hang-ups and again after the likes the script reads,
# from the database itself, the server's connections by state in pg_stat_activity (none may be
# "idle in transaction") and the locks they hold between requests (none); it counts how often
# the server logged "there is already a transaction in progress" (a statement sent on a
# connection that was already inside a transaction); and after stopping the server (which ends
# its connections) it counts the acknowledged likes stored (all of them).
# Usage: bench/hangups.sh [HANGUPS, default 2400] [ACKED, default 200]
#   BIN=path/to/parlor     the server to run (default: a release build of this tree)
#   PARLOR_TEST_DATABASE_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
hangups=${1:-2400}
acked=${2:-200}

if [[ -z ${BIN:-} ]]; then
    cargo build --release --quiet --bin parlor
    BIN="$(parlor_target_dir)/release/parlor"
fi
pg_url=${PARLOR_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
database=parlor_hangups_$(python3 -c 'import uuid; print(uuid.uuid4().hex[:12])')
psql "$pg_url" -qc "create database $database" >/dev/null
base_url=${pg_url%%\?*}
db_url="${base_url%/*}/$database"

data_dir=$(mktemp -d)
port=$(free_port)
trap 'stop_parlor; psql "$pg_url" -qc "drop database if exists $database" >/dev/null 2>&1; rm -rf "$data_dir"' EXIT
start_parlor "$BIN" "$data_dir" "$port" PARLOR_DATABASE_URL="$db_url" PARLOR_LOG=warn \
    PARLOR_LIMITS__MESSAGES_PER_MINUTE=1000000 PARLOR_SERVER__CONNECTIONS_PER_ADDRESS=0
sql() { psql "$db_url" -Atc "$1"; }
report() {
    echo "== pg_stat_activity of the server's connections (state: count)"
    sql "select coalesce(state, '?') || ': ' || count(*) from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid() group by state order by state"
    echo "== locks held by the server's connections between requests"
    sql "select count(*) from pg_locks l join pg_stat_activity a on a.pid = l.pid
         where a.datname = current_database() and a.pid <> pg_backend_pid()"
}
python3 bench/hangups.py storm "http://127.0.0.1:$port" "$hangups" "$acked" "$data_dir/state.json"
sleep 2
report
echo "== 'there is already a transaction in progress' in the server log"
grep -c "already a transaction in progress" "$data_dir/server.log" || true
python3 bench/hangups.py like "http://127.0.0.1:$port" "$data_dir/state.json"
report
stop_parlor
PARLOR_PID=
bob=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bob_id"])' "$data_dir/state.json")
echo "== acknowledged likes stored after the server stopped (of $acked)"
sql "select count(*) from message_likes l join messages m on m.id = l.message_id
     where l.user_id = '$bob' and m.text like 'acked %'"
