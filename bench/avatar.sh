#!/usr/bin/env bash
# Avatar pipeline benchmark on a 12-megapixel JPEG:
#   1. Parlor's pipeline (header check, decode, EXIF orientation, original re-encoded without
#      metadata, 400/100/50 centre-cropped squares) in process, single-threaded;
#   2. libvips doing the same outputs with `vipsthumbnail` and `vips autorot` (Debian's
#      libvips-tools), each command timed whole and net of the vips start-up cost;
#   3. peak memory (RSS) of a release `parlor serve` taking three uploads of the file, against
#      the same server idle, both from /usr/bin/time -v.
# Usage: bench/avatar.sh [PHOTO.jpg]   (default: a generated 4000×3000 photo-like JPEG)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

command -v vipsthumbnail >/dev/null || { apt-get update -qq && apt-get install -y -qq libvips-tools >/dev/null; }
cargo build --release --quiet --bin parlor --example avatar_pipeline
target_dir=$(parlor_target_dir)
work=$(mktemp -d)
trap 'stop_parlor; rm -rf "$work"' EXIT
photo=${1:-$work/photo12.jpg}

echo "== Parlor pipeline (in process, one thread)"
"$target_dir/release/examples/avatar_pipeline" "$photo" 10 | tee "$work/parlor.txt"
parlor_ms=$(awk '/full pipeline/ {print $4}' "$work/parlor.txt")

echo
echo "== libvips $(vips --version | cut -d- -f2), same outputs (median of 7 runs per command)"
python3 - "$photo" "$work" "$parlor_ms" <<'PY'
import statistics, subprocess, sys, time, os
photo, work, parlor_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])

def median_ms(cmd, env=None, runs=7):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)

jobs = [("original (autorot, strip, Q85)", ["vips", "autorot", photo, f"{work}/o.jpg[Q=85,strip]"])] + [
    (f"{s}x{s} (vipsthumbnail -m centre)", ["vipsthumbnail", photo, "-s", f"{s}x{s}", "-m", "centre", "-o", f"{work}/t{s}.jpg[Q=85,strip]"])
    for s in (400, 100, 50)
]
for label, env in [("default threads", dict(os.environ)), ("VIPS_CONCURRENCY=1", dict(os.environ, VIPS_CONCURRENCY="1"))]:
    startup = median_ms(["vips", "--version"], env)
    times = [(name, median_ms(cmd, env)) for name, cmd in jobs]
    wall = sum(t for _, t in times)
    net = sum(t - startup for _, t in times)
    print(f"-- {label}: process start-up {startup:.1f} ms")
    for name, t in times:
        print(f"   {name:<34} {t:7.1f} ms wall  {t - startup:7.1f} ms net")
    thumb_net = times[1][1] - startup
    print(f"   all four outputs: {wall:.1f} ms wall, {net:.1f} ms net of start-up")
    print(f"   Parlor {parlor_ms:.1f} ms ÷ libvips all four (net) = {parlor_ms / net:.2f}×; "
          f"÷ one 400x400 vipsthumbnail (net) = {parlor_ms / thumb_net:.2f}×")
PY

echo
echo "== peak memory of parlor serve (release), from /usr/bin/time -v"
peak_rss() {  # peak_rss UPLOADS
    local uploads=$1 data_dir=$work/data-$1 port
    mkdir -p "$data_dir"
    port=$(free_port)
    env PARLOR_BIND="127.0.0.1:$port" PARLOR_DATA_DIR="$data_dir" PARLOR_CONFIG=/nonexistent.toml PARLOR_LOG=warn \
        /usr/bin/time -v -o "$data_dir/time.txt" "$target_dir/release/parlor" serve >"$data_dir/server.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    local token
    token=$(curl -fs -H 'content-type: application/json' -d '{"identifier":"bench_user","password":"correct horse battery"}' \
        "http://127.0.0.1:$port/api/v1/auth/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["access_token"])')
    for _ in $(seq 1 "$uploads"); do
        curl -fs -o /dev/null -w '   upload: HTTP %{http_code} in %{time_total}s\n' -X PUT -H "Authorization: Bearer $token" \
            -F "file=@$photo" "http://127.0.0.1:$port/api/v1/me/avatar"
    done
    # SIGINT: a graceful stop, so time(1) reports.
    pkill -INT -P "$pid" parlor || true
    wait "$pid" || true
    awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$data_dir/time.txt"
}
idle=$(peak_rss 0 | tail -1)
busy=$(peak_rss 3 | tee /dev/stderr | tail -1)
echo "   idle server peak RSS:        $((idle / 1024)) MiB"
echo "   after three 12 MP uploads:  $((busy / 1024)) MiB  (+$(((busy - idle) / 1024)) MiB for the upload)"
