#!/bin/sh
# In MinIO's place: `server` runs SeaweedFS with its S3 gateway on port 9000, one identity
# (MINIO_ROOT_USER / MINIO_ROOT_PASSWORD) and anonymous reads of parlor-media's objects;
# `make-bucket` (the one-shot storage-init) makes the bucket on the server `storage`.
set -eu
case "${1:-server}" in
server)
    umask 077
    cat >/tmp/s3.json <<JSON
{"identities": [
  {"name": "root", "credentials": [{"accessKey": "$MINIO_ROOT_USER", "secretKey": "$MINIO_ROOT_PASSWORD"}],
   "actions": ["Read", "Write", "List", "Tagging", "Admin"]},
  {"name": "anonymous", "actions": ["Read:parlor-media"]}]}
JSON
    exec /opt/seaweedfs/bin/weed server -dir=/data -ip=127.0.0.1 -ip.bind=0.0.0.0 -master.telemetry=false \
        -s3 -s3.port=9000 -s3.config=/tmp/s3.json
    ;;
make-bucket)
    for _ in $(seq 1 60); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
            --user "$STORAGE_ROOT_USER:$STORAGE_ROOT_PASSWORD" -X PUT http://storage:9000/parlor-media || true)
        case $code in 200 | 409) echo "bucket parlor-media ready"; exit 0 ;; esac
        sleep 1
    done
    echo "could not make the bucket (last answer: $code)" >&2
    exit 1
    ;;
*) exec "$@" ;;
esac
