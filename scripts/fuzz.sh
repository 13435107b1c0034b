#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a given time.
# Usage: bash scripts/fuzz.sh [-j PARALLEL] SECONDS [TARGET...]
#   TARGET: checkpoint pickle zip image matfile wider_mat wider_gt (default: all fuzz/fuzz_*.c).
#   Seeds: fuzz/corpus/TARGET plus real files from ../shared (RETINAFACE_TESTDATA) when present.
#   What a run finds stays in build-fuzz/corpus/TARGET; its crashes go to build-fuzz/crashes/TARGET.
#   Exit status 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
parallel=1
if [ "${1:-}" = "-j" ]; then
  parallel=$2
  shift 2
fi
if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  sed -n '3,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
seconds=$1
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do
    n=$(basename "$f" .c)
    targets+=("${n#fuzz_}")
  done
fi
data=${RETINAFACE_TESTDATA:-$PWD/../shared}
build=build-fuzz

CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRF_FUZZ=ON -DRF_SANITIZE=ON \
  >/dev/null
# The command too: it converts the real checkpoint into native-format seeds.
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}" retinaface_cli >/dev/null

# Real files, copied into a per-run seed folder (the repository keeps only the small seeds).
# Inputs longer than a target's max_len would be cut short, so that bounds what is used.
add_real_seeds() { # add_real_seeds TARGET DIR
  local t=$1 dir=$2
  [ -d "$data" ] || return 0
  case $t in
    checkpoint)
      cp "$data"/models/mobilenet0.25_Final.pth "$data"/models/mobilenet0.25_Final_zip.pth \
        "$dir"/ 2>/dev/null || true
      for storage in f32 f16; do
        "$build"/retinaface convert "$data"/models/mobilenet0.25_Final.pth \
          "$dir/native_$storage.rfm" --storage "$storage" >/dev/null 2>&1 || true
      done ;;
    zip)
      cp "$data"/models/mobilenet0.25_Final_zip.pth "$dir"/ 2>/dev/null || true ;;
    pickle)
      python3 - "$data"/models/mobilenet0.25_Final_zip.pth "$dir" <<'PY' || true
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for n in z.namelist():
    if n.endswith("/data.pkl"):
        open(sys.argv[2] + "/real_data.pkl", "wb").write(z.read(n))
PY
      head -c 65536 "$data"/models/mobilenet0.25_Final.pth >"$dir"/real_legacy_head.pth 2>/dev/null \
        || true ;;
    image)
      cp "$data"/data/images/face1mb_ncnn_sample.jpg "$dir"/ 2>/dev/null || true
      find "$data"/data/widerface/val/images -name '*.jpg' -size -40k 2>/dev/null | sort |
        head -20 | xargs -r cp -t "$dir"/ ;;
    matfile)
      cp "$data"/data/widerface/ground_truth/*.mat "$dir"/ 2>/dev/null || true ;;
    wider_mat)
      python3 - "$data"/data/widerface/ground_truth "$dir" <<'PY' || true
import struct, sys
gt, out = sys.argv[1], sys.argv[2]
val = open(gt + "/wider_face_val.mat", "rb").read()
for s in ("easy", "hard"):
    rest = open("%s/wider_%s_val.mat" % (gt, s), "rb").read()
    open("%s/real_val_%s.bin" % (out, s), "wb").write(struct.pack("<I", len(val)) + val + rest)
PY
      ;;
    wider_gt)
      cp "$data"/data/widerface/val_subset.txt "$dir"/ 2>/dev/null || true
      head -n 2000 "$data"/data/widerface/wider_face_val_bbx_gt.txt >"$dir"/real_gt_head.txt \
        2>/dev/null || true ;;
  esac
}

max_len() {
  case $1 in
    checkpoint | zip) echo 2000000 ;;
    matfile) echo 500000 ;;
    wider_mat) echo 1000000 ;;
    image) echo 131072 ;;
    *) echo 65536 ;;
  esac
}

run_target() { # run_target TARGET -> writes $build/fuzz-TARGET.log
  local t=$1
  local seeds=$build/seeds/$t corpus=$build/corpus/$t crashes=$build/crashes/$t
  rm -rf "$seeds" "$crashes" # crashes are this run's; copy older ones away to keep them
  mkdir -p "$seeds" "$corpus" "$crashes"
  cp fuzz/corpus/"$t"/* "$seeds"/ 2>/dev/null || true
  add_real_seeds "$t" "$seeds"
  # rss/malloc limits: a 64-megapixel image and a 2 MB zip that claims a 1032:1 entry are both
  # legitimate allocations; anything beyond is a finding.
  "$build"/fuzz_"$t" "$corpus" "$seeds" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
    -timeout=30 -rss_limit_mb=3072 -malloc_limit_mb=3072 -print_final_stats=1 \
    -artifact_prefix="$crashes"/ >"$build/fuzz-$t.log" 2>&1 || true
}

running=0
for t in "${targets[@]}"; do
  [ -f fuzz/fuzz_"$t".c ] || { echo "no target fuzz/fuzz_$t.c" >&2; exit 2; }
  echo "fuzzing $t for ${seconds}s"
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

status=0
printf '%-12s %10s %8s %8s %8s %8s %s\n' target execs exec/s cov ft corpus crashes
for t in "${targets[@]}"; do
  log=$build/fuzz-$t.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -aE '^#[0-9]+' "$log" | tail -1 || true) # none when the first input crashed
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  found=$(find "$build/crashes/$t" -type f | wc -l)
  printf '%-12s %10s %8s %8s %8s %8s %s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}" "$found"
  if [ "$found" -gt 0 ] || grep -qaE 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error' "$log"; then
    status=1
    echo "  see $log and $build/crashes/$t/"
  fi
done
exit $status
