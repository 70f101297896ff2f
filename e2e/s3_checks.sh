# The checks of Parlor's media on an S3-compatible server, sourced by e2e/s3_garage.sh and
# e2e/s3_seaweedfs.sh once their server runs. They set: server_name, region, s3_port, key_id,
# secret, work (a scratch directory, also Parlor's data directory) and target_dir; the bucket
# parlor-media exists and the key may read and write it.

s3() {  # s3 PATH [curl args…]: a SigV4-signed request straight to the server
    local path=$1
    shift
    curl -s --aws-sigv4 "aws:amz:$region:s3" --user "$key_id:$secret" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        "$@" "http://127.0.0.1:$s3_port/parlor-media$path"
}
bucket_keys() {
    s3 "?list-type=2" | python3 -c 'import re,sys; print("\n".join(re.findall(r"<Key>([^<]+)</Key>", sys.stdin.read())))'
}

port=$(free_port)
base=http://127.0.0.1:$port
start_parlor "$target_dir/debug/parlor" "$work" "$port" \
    PARLOR_S3__BUCKET=parlor-media PARLOR_S3__ENDPOINT="http://127.0.0.1:$s3_port" PARLOR_S3__REGION="$region" \
    PARLOR_S3__ACCESS_KEY_ID="$key_id" PARLOR_S3__SECRET_ACCESS_KEY="$secret" PARLOR_S3__ALLOW_HTTP=true \
    PARLOR_MEDIA__PRESIGNED_ATTACHMENTS=true
echo "== parlor on $base with media on S3, attachment links presigned"

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
echo "straight from $server_name: $(grep -i '^content-type' <<<"$headers" | tr -d '\r'), $(grep -i '^cache-control' <<<"$headers" | tr -d '\r')"
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

# Attachments are private: their links are presigned bucket URLs, which the server checks.
printf 'quarterly figures\n' >"$work/report.txt"
token=$(curl -fs -H 'content-type: application/json' -d '{"identifier":"s3_sender","password":"correct horse battery"}' \
    "$base/api/v1/auth/register" | json 'd["data"]["access_token"]')
link=$(curl -fs -H "Authorization: Bearer $token" -F "file=@$work/report.txt" "$base/api/v1/attachments" \
    | json 'd["data"]["attachment"]["url"]')
[[ $link == "http://127.0.0.1:$s3_port/parlor-media/attachments/"*"X-Amz-Signature="* ]] || fail "not a presigned link: $link"
served=$(curl -s -D "$work/link-headers" "$link")
[[ $served == "quarterly figures" ]] || fail "the presigned link did not serve the file: $served"
grep -qi '^cache-control: private, max-age=' "$work/link-headers" || fail "no private Cache-Control: $(cat "$work/link-headers")"
grep -qi '^content-disposition: attachment' "$work/link-headers" || fail "not served as a download: $(cat "$work/link-headers")"
bare=${link%%\?*}
[[ $(curl -s -o /dev/null -w '%{http_code}' "$bare") == 403 ]] || fail "the file opens without a signature: $bare"
forged=${link/X-Amz-Signature=/X-Amz-Signature=0}
[[ $(curl -s -o /dev/null -w '%{http_code}' "$forged") == 403 ]] || fail "a forged signature was accepted"
echo "attachment: a presigned link serves it ($(grep -i '^cache-control' "$work/link-headers" | tr -d '\r')); without the signature, or with a forged one: 403"

if grep -rqF "$secret" "$work/server.log" "$work/logs"; then fail "the S3 secret key appears in parlor's logs"; fi
echo "the secret key appears nowhere in parlor's logs"
echo "S3 ($server_name): all checks passed"
