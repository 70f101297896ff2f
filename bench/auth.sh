#!/usr/bin/env bash
# Authentication benchmark against a release build on loopback:
#   1. authenticated GET /api/v1/me requests/s as a ratio to GET /healthz  (goal >= 0.5)
#   2. logins/s as a ratio to the raw argon2id verification rate            (goal >= 0.9)
# Usage: bench/auth.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
secs=${1:-10}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin parlor --example argon2_rate
target_dir=$(parlor_target_dir)

data_dir=$(mktemp -d)
port=$(free_port)
base=http://127.0.0.1:$port
trap 'stop_parlor; rm -rf "$data_dir"' EXIT
start_parlor "$target_dir/release/parlor" "$data_dir" "$port" PARLOR_LOG=warn

token=$(curl -fs -H 'content-type: application/json' \
    -d '{"identifier":"bench_user","password":"correct horse battery"}' "$base/api/v1/auth/register" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["access_token"])')

rps() { grep 'Requests/sec' | awk '{print $2}'; }
echo "== wrk -t2 -c64 -d${secs}s"
healthz=$(wrk -t2 -c64 -d"${secs}s" "$base/healthz" | tee /dev/stderr | rps)
me=$(wrk -t2 -c64 -d"${secs}s" -H "Authorization: Bearer $token" "$base/api/v1/me" | tee /dev/stderr | rps)

cat >"$data_dir/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"identifier":"bench_user","password":"correct horse battery"}'
LUA
# The raw rate is measured just before and just after the logins (the server idle meanwhile) and
# the logins are compared with their mean: a machine whose speed drifts, as shared virtual
# machines' does, moves both sides alike.
raw_rate() { "$target_dir/release/examples/argon2_rate" "$secs" | tee /dev/stderr | awk '{print $(NF-1)}'; }
raw_before=$(raw_rate)
# One load thread: on a 2-core machine every cycle wrk spends is one argon2 cannot use.
logins=$(wrk -t1 -c4 -d"${secs}s" -s "$data_dir/login.lua" "$base/api/v1/auth/login" | tee /dev/stderr | rps)
raw_after=$(raw_rate)
stop_parlor

python3 - "$healthz" "$me" "$logins" "$raw_before" "$raw_after" <<'PY'
import sys
healthz, me, logins, raw_before, raw_after = map(float, sys.argv[1:])
raw = (raw_before + raw_after) / 2
print(f"GET /healthz          {healthz:10.0f} req/s")
print(f"GET /api/v1/me (auth) {me:10.0f} req/s   ratio {me / healthz:.2f}  (goal >= 0.5)")
print(f"POST /auth/login      {logins:10.1f} req/s")
print(f"raw argon2id verify   {raw:10.1f} /s     ratio {logins / raw:.2f}  (goal >= 0.9)"
      f"   [before {raw_before:.1f}, after {raw_after:.1f}]")
PY
