#!/usr/bin/env bash
# memory_growth.sh - resident memory of one detect process over 1,000+ images, sampled from /proc: it must stay flat.
# Usage: bash scripts/memory_growth.sh [-b BINARY] [-n COUNT] [-- DETECT_OPTIONS...]
#   BINARY: the retinaface command (default build/retinaface); COUNT: images (default 1000).
#   Images: the WIDER FACE validation images of ../shared (RETINAFACE_TESTDATA). The first tenth
#   of the run are the largest of them, so the context's buffers reach their final size there;
#   then all of them in name order, repeated until COUNT. Growth after 10% can only be a leak.
#   Prints the RSS curve (peak of each twentieth of the run), the growth from 10% to 100% of the
#   run, and exits 1 when that growth is over MAX_GROWTH_MB (default 8).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/retinaface
count=1000
while [ $# -gt 0 ]; do
  case $1 in
    -b) bin=$2; shift 2 ;;
    -n) count=$2; shift 2 ;;
    --) shift; break ;;
    *) sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
data=${RETINAFACE_TESTDATA:-$PWD/../shared}
model=$data/models/mobilenet0.25_Final.pth
max_growth_mb=${MAX_GROWTH_MB:-8}
[ -x "$bin" ] || { echo "no binary $bin (build first, or give -b)" >&2; exit 2; }
[ -f "$model" ] || { echo "no $model (set RETINAFACE_TESTDATA)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
find "$data/data/widerface/val/images" -name '*.jpg' | sort >"$work/all"
[ -s "$work/all" ] || { echo "no images under $data/data/widerface/val/images" >&2; exit 2; }
# The largest images by pixel count, read from the JPEG frame headers.
python3 - "$work/all" "$((count / 10))" >"$work/list" <<'PY'
import struct, sys
def pixels(path):
    d = open(path, "rb").read()
    i = 2
    while i + 9 < len(d):
        marker, length = d[i + 1], struct.unpack(">H", d[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", d[i + 5:i + 9])
            return w * h
        i += 2 + length
    return 0
paths = open(sys.argv[1]).read().split()
paths.sort(key=pixels, reverse=True)
print("\n".join(paths[: int(sys.argv[2])]))
PY
while [ "$(wc -l <"$work/list")" -lt "$count" ]; do
  cat "$work/all" >>"$work/list"
done
head -n "$count" "$work/list" >"$work/images"
mapfile -t images <"$work/images"
echo "detect over ${#images[@]} images ($(wc -l <"$work/all") distinct) in one process: $bin $*"

start=$(date +%s.%N)
"$bin" detect -q -m "$model" "$@" --json "$work/out.json" "${images[@]}" &
pid=$!
# One sample every 100 ms: seconds since the start, then VmRSS in kB.
while [ -r "/proc/$pid/status" ]; do
  rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(date +%s.%N) $rss" >>"$work/samples"
  sleep 0.1
done
status=0
wait "$pid" || status=$?
[ "$status" -eq 0 ] || { echo "detect failed with status $status" >&2; exit 1; }
done_images=$(grep -c '"file"' "$work/out.json" || true)

awk -v start="$start" -v limit="$max_growth_mb" -v images="$done_images" '
  { t[NR] = $1 - start; r[NR] = $2 / 1024 }
  END {
    n = NR
    if (n < 20) { print "too few samples (" n "); use more images"; exit 1 }
    printf "%d images in %.1f s, %d samples\n", images, t[n], n
    print "RSS curve (peak MB in each 5% of the run):"
    for (b = 0; b < 20; b++) {
      peak = 0
      for (i = int(b * n / 20) + 1; i <= int((b + 1) * n / 20); i++) if (r[i] > peak) peak = r[i]
      printf "  %3d%%-%3d%%  %8.1f MB\n", b * 5, b * 5 + 5, peak
    }
    at10 = r[int(n / 10)]
    late = 0
    for (i = int(n / 10); i <= n; i++) if (r[i] > late) late = r[i]
    printf "RSS at 10%%: %.1f MB, at 100%%: %.1f MB, peak after 10%%: %.1f MB\n", at10, r[n], late
    printf "growth from 10%% to 100%%: %+.1f MB (peak %+.1f MB; limit %d MB)\n", r[n] - at10,
           late - at10, limit
    exit (late - at10 > limit) ? 1 : 0
  }' "$work/samples"
