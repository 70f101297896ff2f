#!/usr/bin/env bash
# Parlor's media on a real S3-compatible server: Garage on loopback (a single-node cluster made
# for this run), Parlor configured with `s3.*`. Uploads, replaces and deletes an avatar and checks
# the bucket directly with SigV4-signed requests (curl --aws-sigv4), and the files served by Parlor.
#
#   GARAGE=/path/to/garage     the Garage binary (default: on PATH, or ~/.cache/parlor/garage/bin)
#   PARLOR_INSTALL_GARAGE=1    `cargo install garage` when it is missing (about 25 minutes on 2 cores)
#   PARLOR_REQUIRE_GARAGE=1    fail instead of skipping when Garage is missing
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

garage_root=$HOME/.cache/parlor/garage
garage=${GARAGE:-$(command -v garage || echo "$garage_root/bin/garage")}
if [[ ! -x $garage ]]; then
    if [[ ${PARLOR_INSTALL_GARAGE:-0} == 1 ]]; then
        cargo install garage --version 2.5.0 --locked --no-default-features --features bundled-libs,sqlite,lmdb \
            --root "$garage_root"
        garage=$garage_root/bin/garage
    elif [[ ${PARLOR_REQUIRE_GARAGE:-0} == 1 ]]; then
        echo "Garage not found (set GARAGE, or PARLOR_INSTALL_GARAGE=1 to build it)" >&2
        exit 1
    else
        echo "== S3 (Garage): skipped, Garage is not installed (PARLOR_INSTALL_GARAGE=1 builds it)"
        exit 0
    fi
fi

cargo build --quiet --bin parlor
target_dir=$(parlor_target_dir)
work=$(mktemp -d)
garage_pid=
cleanup() {
    stop_parlor
    [[ -n $garage_pid ]] && kill "$garage_pid" 2>/dev/null && wait "$garage_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

s3_port=$(free_port)
rpc_port=$(free_port)
cat >"$work/garage.toml" <<TOML
metadata_dir = "$work/meta"
data_dir = "$work/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"
TOML
chmod 600 "$work/garage.toml"
g() { "$garage" -c "$work/garage.toml" "$@"; }
"$garage" -c "$work/garage.toml" server >"$work/garage.log" 2>&1 &
garage_pid=$!
node=
for _ in $(seq 1 100); do
    node=$(g status 2>/dev/null | awk '/NO ROLE ASSIGNED/ {print $1}') && [[ -n $node ]] && break
    sleep 0.1
done
[[ -n $node ]] || { cat "$work/garage.log" >&2; echo "Garage did not start" >&2; exit 1; }
g layout assign -z dc1 -c 1G "$node" >/dev/null
g layout apply --version 1 >/dev/null
g bucket create parlor-media >/dev/null
key_info=$(g key create parlor-key)
key_id=$(awk '/Key ID:/ {print $3}' <<<"$key_info")
secret=$(awk '/Secret key:/ {print $3}' <<<"$key_info")
g bucket allow --read --write --owner parlor-media --key parlor-key >/dev/null
echo "== Garage $("$garage" --version | awk '{print $2}') on 127.0.0.1:$s3_port, bucket parlor-media, key $key_id"

server_name=Garage
region=garage
source e2e/s3_checks.sh
