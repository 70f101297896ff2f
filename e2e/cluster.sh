#!/usr/bin/env bash
# Two `parlor` processes on one PostgreSQL and one Redis, on loopback, with media in SeaweedFS,
# behind a real nginx running the repository's deploy/nginx/parlor.conf (its service addresses
# pointed at these processes): events, revocations, socket closes and rate limits must cross from
# one instance to the other (e2e/cluster/test_cluster.py), nginx must serve media and static
# files itself and carry both sockets to the instances (e2e/cluster/test_nginx.py), a rolling
# restart (SIGTERM, start again; A then B) under load must lose no request, message or socket
# (e2e/cluster/restart.py), and when A is killed outright its users must go offline on B within
# the presence expiry (e2e/cluster/crash.py).
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
ensure_command nginx nginx

target_dir=$(parlor_target_dir)
cargo build --quiet --bin parlor
venv=$(ensure_e2e_venv "$target_dir")

run_id=$(python3 -c 'import uuid; print(uuid.uuid4().hex[:12])')
database=parlor_cluster_$run_id
psql "$pg_url" -qc "create database $database" >/dev/null
base=${pg_url%%\?*}
db_url="${base%/*}/$database"
dir_a=$(mktemp -d) dir_b=$(mktemp -d) work=$(mktemp -d)
port_a=$(free_port) port_b=$(free_port) port_n=$(free_port)
pid_a="" pid_b="" weed_pid=""
cleanup() {
    [[ -f $work/nginx/nginx.pid ]] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null
    for pid in $pid_a $pid_b $weed_pid; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    psql "$pg_url" -qc "drop database if exists $database" >/dev/null 2>&1 || true
    rm -rf "$dir_a" "$dir_b" "$work"
}
trap cleanup EXIT

source e2e/seaweedfs.sh
start_seaweedfs "$venv" "$work" public

# One public URL for both, nginx's, as behind any load balancer (media URLs are built from it).
nginx_url=http://127.0.0.1:$port_n
shared=(PARLOR_DATABASE_URL="$db_url" PARLOR_REDIS_URL="$redis_url" PARLOR_REDIS_PREFIX="parlor-cluster-$run_id"
    PARLOR_PUBLIC_URL="$nginx_url" PARLOR_PUBLIC_MEDIA_URL="$nginx_url/media" PARLOR_TRUST_FORWARDED_FOR=true
    PARLOR_S3__BUCKET=parlor-media PARLOR_S3__ENDPOINT="http://127.0.0.1:$s3_port" PARLOR_S3__REGION="$region"
    PARLOR_S3__ACCESS_KEY_ID="$key_id" PARLOR_S3__SECRET_ACCESS_KEY="$secret" PARLOR_S3__ALLOW_HTTP=true
    PARLOR_REALTIME__PRESENCE_EXPIRY_SECS=3 PARLOR_REALTIME__PRESENCE_QUIET_SECS=1 PARLOR_LOG=info,parlor=debug)
start_parlor "$target_dir/debug/parlor" "$dir_a" "$port_a" "${shared[@]}"
pid_a=$PARLOR_PID
# B has a data directory of its own and no key file: it finds the signing keys A stored in the
# database, as instances behind one load balancer must (the tests check that B takes A's tokens).
start_parlor "$target_dir/debug/parlor" "$dir_b" "$port_b" "${shared[@]}"
pid_b=$PARLOR_PID
PARLOR_PID=""

# nginx with the repository's site configuration; only the addresses of the compose services
# (parlor-a, parlor-b, storage, the static-files volume) and its port are rewritten.
"$target_dir/debug/parlor" export-static "$work/srv/static" 2>/dev/null
chmod -R a+rX "$work/srv"
chmod 755 "$work"
nginx_conf "$work/nginx" deploy/nginx/parlor.conf \
    "s/parlor-a:8080/127.0.0.1:$port_a/" "s/parlor-b:8080/127.0.0.1:$port_b/" "s/storage:9000/127.0.0.1:$s3_port/g" \
    "s/listen 80;/listen 127.0.0.1:$port_n;/" "s|root /srv/parlor;|root $work/srv;|"
nginx -c "$work/nginx/nginx.conf" 2>"$work/nginx/error.log" \
    || { cat "$work/nginx/error.log" >&2; exit 1; }
for _ in $(seq 1 50); do curl -fs "$nginx_url/healthz" >/dev/null && break; sleep 0.1; done

echo "== two instances behind nginx $(nginx -v 2>&1 | sed 's|.*/||') (nginx :$port_n, A :$port_a, B :$port_b, PostgreSQL $database, Redis $redis_hp)"
if ! PARLOR_E2E_A=http://127.0.0.1:$port_a PARLOR_E2E_B=http://127.0.0.1:$port_b PARLOR_E2E_NGINX=$nginx_url \
    PARLOR_E2E_REDIS=$redis_hp PARLOR_E2E_BUS="parlor-cluster-$run_id:bus" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider e2e/cluster; then
    echo "--- instance A log"; tail -n 40 "$dir_a/server.log"
    echo "--- instance B log"; tail -n 40 "$dir_b/server.log"
    echo "--- nginx"; tail -n 20 "$work/nginx/error.log" "$work/nginx/access.log"
    exit 1
fi

# A rolling restart while clients send and listen through nginx: A, then B, each stopped with
# SIGTERM and started again on its port by this helper (their pids move to $work/pid_a and _b).
echo "$pid_a" >"$work/pid_a"
echo "$pid_b" >"$work/pid_b"
{
    echo 'set -euo pipefail'
    echo "cd $(printf '%q' "$PWD")"
    echo 'source scripts/lib.sh'
    declare -p shared
    printf 'bin=%q; work=%q; dir_a=%q; dir_b=%q; port_a=%q; port_b=%q\n' \
        "$target_dir/debug/parlor" "$work" "$dir_a" "$dir_b" "$port_a" "$port_b"
    cat <<'HELPER'
name=$1
pid=$(cat "$work/pid_$name")
dir_var=dir_$name port_var=port_$name
kill -TERM "$pid"
wait_gone "$pid"
mv "${!dir_var}/server.log" "${!dir_var}/server.log.$(date +%s%N)"
start_parlor "$bin" "${!dir_var}" "${!port_var}" "${shared[@]}"
echo "$PARLOR_PID" >"$work/pid_$name"
HELPER
} >"$work/restart.sh"
if ! PARLOR_E2E_NGINX=$nginx_url PARLOR_E2E_RESTART="bash $work/restart.sh" "$venv/bin/python" e2e/cluster/restart.py; then
    echo "--- instance A log"; tail -n 40 "$dir_a/server.log"
    echo "--- instance B log"; tail -n 40 "$dir_b/server.log"
    echo "--- nginx"; tail -n 20 "$work/nginx/error.log"
    exit 1
fi
pid_a=$(cat "$work/pid_a") pid_b=$(cat "$work/pid_b")

# A crash: A is killed without a chance to withdraw its users' presence; B must find them
# offline within the expiry.
if ! PARLOR_E2E_A=http://127.0.0.1:$port_a PARLOR_E2E_B=http://127.0.0.1:$port_b PARLOR_E2E_A_PID=$pid_a \
    PARLOR_E2E_PRESENCE_EXPIRY=3 "$venv/bin/python" e2e/cluster/crash.py; then
    echo "--- instance B log"; tail -n 40 "$dir_b/server.log"
    exit 1
fi
{ wait "$pid_a"; } 2>/dev/null || true
pid_a=""

# With no instance up, nginx answers in JSend, as an instance would, and asks to retry.
# (B was restarted by the helper, so it is not this shell's child: wait until it is gone.)
for pid in $pid_a $pid_b; do
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    wait_gone "$pid"
done
pid_a="" pid_b=""
answer=$(curl -s -D "$work/headers" "$nginx_url/api/v1/me")
status=$(head -1 "$work/headers" | awk '{print $2}')
echo "   both instances stopped: nginx answers $status $answer"
[[ $status == 503 && $answer == '{"status":"error",'* ]] && grep -qi '^retry-after: 5' "$work/headers" \
    || { echo "FAIL: nginx did not answer 503 in JSend with no instance up" >&2; exit 1; }
