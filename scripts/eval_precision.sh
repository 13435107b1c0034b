#!/usr/bin/env bash
# eval_precision.sh - WIDER FACE AP of the trained MobileNet0.25 in each precision (fp32, bf16,
# int8): official easy/medium/hard at the original size and OMZ AP, as a table with the change
# from fp32 in points.
# Usage: bash scripts/eval_precision.sh [RETINAFACE_BINARY]
#   RETINAFACE_BINARY  default build/retinaface (built here if missing)
#   THREADS=N          images evaluated at once (default 1: the machine may be shared)
#   PRECISIONS         default "fp32 bf16 int8"; KERNELS (default auto; reference runs any
#                      precision on any CPU, very slowly)
#   CALIBRATION=PATH   also int8 with calibrated ranges ("int8-cal"): the model converted with
#                      `retinaface convert --calibration PATH` (images or a folder of them)
#   CALIBRATION_EVERY=N  the same, calibrated on every Nth image of the WIDER subset's list
#                      (val_subset.txt, from the first): those images are evaluated too
#   RETINAFACE_TESTDATA  the shared data folder (default ../shared)
# Results go to out/eval_precision/<precision>/ and <precision>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${RETINAFACE_TESTDATA:-../shared}
bin=${1:-build/retinaface}
threads=${THREADS:-1}
kernels=${KERNELS:-auto}
read -r -a precisions <<<"${PRECISIONS:-fp32 bf16 int8}"
wf=$data/data/widerface
model=$data/models/mobilenet0.25_Final.pth
if [ ! -x "$bin" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$(nproc)" --target retinaface_cli
  bin=build/retinaface
fi
for f in "$wf/val/images" "$model"; do
  [ -e "$f" ] || { echo "eval_precision: $f not found" >&2; exit 1; }
done
mkdir -p out/eval_precision
if [ -n "${CALIBRATION_EVERY:-}" ]; then
  CALIBRATION=out/eval_precision/calibration
  rm -rf "$CALIBRATION" && mkdir -p "$CALIBRATION"
  awk -v n="$CALIBRATION_EVERY" 'NR % n == 1 % n' "$wf/val_subset.txt" | while read -r f; do
    ln -s "$(cd "$wf/val/images" && pwd)/$f" "$CALIBRATION/$(basename "$f")"
  done
fi
if [ -n "${CALIBRATION:-}" ]; then
  "$bin" convert "$model" out/eval_precision/calibrated.rfm --calibration "$CALIBRATION" \
    --threads "$threads" >&2
  precisions+=(int8-cal)
fi
for p in "${precisions[@]}"; do
  m=$model prec=$p
  [ "$p" = int8-cal ] && m=out/eval_precision/calibrated.rfm prec=int8
  echo "== $p: $(basename "$m") --original-size --protocol both --kernels $kernels" >&2
  "$bin" eval -m "$m" --original-size --protocol both --precision "$prec" --kernels "$kernels" \
    --gt "$wf" --images "$wf/val/images" --threads "$threads" \
    --out "out/eval_precision/$p" --json "out/eval_precision/$p.json" >/dev/null
done

field() { # field NAME FILE: a number of the summary JSON, as a percentage
  sed -n "s/^  \"$1\": \([0-9.]*\),*$/\1/p" "$2" | awk '{ printf "%.2f", 100 * $1 }'
}
images=$(sed -n 's/^  "images": \([0-9]*\),*$/\1/p' "out/eval_precision/${precisions[0]}.json")
echo
echo "WIDER FACE val, $images of 3226 images, mobilenet0.25_Final.pth, original size (AP in %;"
echo "OMZ: 640x640 stretch, faces >= 64 px); in brackets the change from ${precisions[0]}, points"
echo
echo "| precision | easy | medium | hard | OMZ AP |"
echo "|---|---:|---:|---:|---:|"
base=out/eval_precision/${precisions[0]}.json
for p in "${precisions[@]}"; do
  j=out/eval_precision/$p.json
  row="| $p |"
  for k in easy medium hard omz_ap; do
    v=$(field "$k" "$j") b=$(field "$k" "$base")
    row+=" $v ($(awk -v a="$v" -v b="$b" 'BEGIN { printf "%+.2f", a - b }')) |"
  done
  echo "$row"
done
