#!/usr/bin/env bash
# Two `parlor` processes on one PostgreSQL and one Redis, on loopback: events, revocations,
# socket closes and rate limits must cross from one instance to the other.
#
#   PARLOR_TEST_DATABASE_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test)
#   PARLOR_TEST_REDIS_URL     Redis server (default redis://127.0.0.1:6379)
#   PARLOR_TEST_REQUIRE_PG=1  fail instead of skipping when either is not reachable (CI sets it)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

pg_url=${PARLOR_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
redis_url=${PARLOR_TEST_REDIS_URL:-redis://127.0.0.1:6379}
hostport() { sed -E 's|^[a-z]+://([^@/]*@)?([^/?]+).*|\2|' <<<"$1"; }
pg_hp=$(hostport "$pg_url") redis_hp=$(hostport "$redis_url")
if ! reachable "${pg_hp%%:*}" "${pg_hp##*:}" || ! reachable "${redis_hp%%:*}" "${redis_hp##*:}"; then
    if [[ ${PARLOR_TEST_REQUIRE_PG:-0} == 1 ]]; then
        echo "two-instance test: PostgreSQL ($pg_hp) and Redis ($redis_hp) are required" >&2
        exit 1
    fi
    echo "== two-instance test skipped: PostgreSQL or Redis not reachable"
    exit 0
fi
ensure_command psql postgresql-client

target_dir=$(parlor_target_dir)
cargo build --quiet --bin parlor
venv=$(ensure_e2e_venv "$target_dir")

run_id=$(python3 -c 'import uuid; print(uuid.uuid4().hex[:12])')
database=parlor_cluster_$run_id
psql "$pg_url" -qc "create database $database" >/dev/null
base=${pg_url%%\?*}
db_url="${base%/*}/$database"
dir_a=$(mktemp -d) dir_b=$(mktemp -d)
port_a=$(free_port) port_b=$(free_port)
pid_a="" pid_b=""
cleanup() {
    for pid in $pid_a $pid_b; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    psql "$pg_url" -qc "drop database if exists $database" >/dev/null 2>&1 || true
    rm -rf "$dir_a" "$dir_b"
}
trap cleanup EXIT

# One public URL for both, as behind a load balancer (media URLs are built from it).
shared=(PARLOR_DATABASE_URL="$db_url" PARLOR_REDIS_URL="$redis_url" PARLOR_REDIS_PREFIX="parlor-cluster-$run_id"
    PARLOR_PUBLIC_URL="http://127.0.0.1:$port_a" PARLOR_LOG=info,parlor=debug)
start_parlor "$target_dir/debug/parlor" "$dir_a" "$port_a" "${shared[@]}"
pid_a=$PARLOR_PID
# B has a data directory of its own and no key file: it finds the signing keys A stored in the
# database, as instances behind one load balancer must (the tests check that B takes A's tokens).
start_parlor "$target_dir/debug/parlor" "$dir_b" "$port_b" "${shared[@]}"
pid_b=$PARLOR_PID
PARLOR_PID=""

echo "== two-instance test (A :$port_a, B :$port_b, PostgreSQL $database, Redis $redis_hp)"
if ! PARLOR_E2E_A=http://127.0.0.1:$port_a PARLOR_E2E_B=http://127.0.0.1:$port_b \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider e2e/cluster; then
    echo "--- instance A log"; tail -n 40 "$dir_a/server.log"
    echo "--- instance B log"; tail -n 40 "$dir_b/server.log"
    exit 1
fi
