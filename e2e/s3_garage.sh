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

s3() {  # s3 PATH [curl args…]: a SigV4-signed request straight to Garage
    local path=$1
    shift
    curl -s --aws-sigv4 "aws:amz:garage:s3" --user "$key_id:$secret" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        "$@" "http://127.0.0.1:$s3_port/parlor-media$path"
}
bucket_keys() {
    s3 "?list-type=2" | python3 -c 'import re,sys; print("\n".join(re.findall(r"<Key>([^<]+)</Key>", sys.stdin.read())))'
}

port=$(free_port)
base=http://127.0.0.1:$port
start_parlor "$target_dir/debug/parlor" "$work" "$port" \
    PARLOR_S3__BUCKET=parlor-media PARLOR_S3__ENDPOINT="http://127.0.0.1:$s3_port" PARLOR_S3__REGION=garage \
    PARLOR_S3__ACCESS_KEY_ID="$key_id" PARLOR_S3__SECRET_ACCESS_KEY="$secret" PARLOR_S3__ALLOW_HTTP=true
echo "== parlor on $base with media on S3"

fail() { echo "FAIL: $*" >&2; exit 1; }
png() {  # png R G B: a 640×480 one-colour PNG on stdout
    python3 -c 'import struct,sys,zlib
r,g,b=map(int,sys.argv[1:]); w,h=640,480
c=lambda k,d: struct.pack(">I",len(d))+k+d+struct.pack(">I",zlib.crc32(k+d))
rows=b"".join(b"\0"+bytes((r,g,b))*w for _ in range(h))
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n"+c(b"IHDR",struct.pack(">IIBBBBB",w,h,8,2,0,0,0))+c(b"IDAT",zlib.compress(rows))+c(b"IEND",b""))' "$@"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

token=$(curl -fs -H 'content-type: application/json' -d '{"identifier":"s3_user","password":"correct horse battery"}' \
    "$base/api/v1/auth/register" | json 'd["data"]["access_token"]')
png 200 40 40 >"$work/a.png"
first=$(curl -fs -X PUT -H "Authorization: Bearer $token" -F "file=@$work/a.png" "$base/api/v1/me/avatar")
first_url=$(json 'd["data"]["url"]' <<<"$first")
echo "uploaded: $first_url"
keys=$(bucket_keys)
echo "bucket holds:"; sed 's/^/  /' <<<"$keys"
[[ $(wc -l <<<"$keys") == 4 ]] || fail "expected 4 objects"

key=${first_url#"$base/media/"}
headers=$(s3 "/$key" -o /dev/null -D -)
grep -qi '^content-type: image/jpeg' <<<"$headers" || fail "stored Content-Type missing: $headers"
grep -qi '^cache-control: public, max-age=31536000, immutable' <<<"$headers" || fail "stored Cache-Control missing"
echo "straight from Garage: $(grep -i '^content-type' <<<"$headers" | tr -d '\r'), $(grep -i '^cache-control' <<<"$headers" | tr -d '\r')"
served=$(curl -fs -o /dev/null -D - "$first_url")
grep -qi '^x-content-type-options: nosniff' <<<"$served" || fail "served without nosniff"
echo "served by parlor: $(head -1 <<<"$served" | tr -d '\r'), $(grep -i '^content-type' <<<"$served" | tr -d '\r')"

png 40 40 200 >"$work/b.png"
second_url=$(curl -fs -X PUT -H "Authorization: Bearer $token" -F "file=@$work/b.png" "$base/api/v1/me/avatar" | json 'd["data"]["url"]')
keys=$(bucket_keys)
[[ $(wc -l <<<"$keys") == 4 ]] || fail "expected only the new avatar's 4 objects, got: $keys"
grep -q "${key%/*}" <<<"$keys" && fail "the replaced avatar's objects are still in the bucket"
[[ $(s3 "/$key" -o /dev/null -w '%{http_code}') == 404 ]] || fail "old object still readable"
echo "replaced: $second_url; the old avatar's objects are gone from the bucket"

curl -fs -X DELETE -H "Authorization: Bearer $token" "$base/api/v1/me" >/dev/null
[[ -z $(bucket_keys) ]] || fail "objects left after the account was deleted: $(bucket_keys)"
echo "account deleted: the bucket is empty"
if grep -rqF "$secret" "$work/server.log" "$work/logs"; then fail "the S3 secret key appears in parlor's logs"; fi
echo "the secret key appears nowhere in parlor's logs"
echo "S3 (Garage): all checks passed"
