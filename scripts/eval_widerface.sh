#!/usr/bin/env bash
# eval_widerface.sh - WIDER FACE AP of both trained MobileNet0.25 checkpoints (official easy/medium/hard, OMZ), as a table.
# Usage: bash scripts/eval_widerface.sh [RETINAFACE_BINARY]
#   RETINAFACE_BINARY  default build/retinaface (built here if missing)
#   THREADS=N          images evaluated at once (default 1: the machine may be shared)
#   RETINAFACE_TESTDATA  the shared data folder (default ../shared)
# Runs every image of the validation set present under $RETINAFACE_TESTDATA/data/widerface
# (627 of the 3,226 there); results, PR plots and summaries go to out/eval_widerface/<run>/.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${RETINAFACE_TESTDATA:-../shared}
bin=${1:-build/retinaface}
threads=${THREADS:-1}
wf=$data/data/widerface
if [ ! -x "$bin" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$(nproc)" --target retinaface_cli
  bin=build/retinaface
fi
for f in "$wf/val/images" "$data/models/mobilenet0.25_Final.pth" "$data/models/mobilenet0.25_face1mb.pth"; do
  [ -e "$f" ] || { echo "eval_widerface: $f not found" >&2; exit 1; }
done

# name | checkpoint | anchors | input options | protocols (OMZ always runs at 640x640, so once
# per checkpoint is enough)
runs=(
  "final-original|mobilenet0.25_Final.pth|retinaface|--original-size|both"
  "final-long640|mobilenet0.25_Final.pth|retinaface|--long-side 640|wider"
  "face1mb-original|mobilenet0.25_face1mb.pth|face1mb|--original-size|both"
  "face1mb-long640|mobilenet0.25_face1mb.pth|face1mb|--long-side 640|wider"
)
mkdir -p out/eval_widerface
for r in "${runs[@]}"; do
  IFS='|' read -r name ckpt anchors input protocol <<<"$r"
  echo "== $name: $ckpt --anchors $anchors $input --protocol $protocol" >&2
  # shellcheck disable=SC2086 # $input is one or two words on purpose
  "$bin" eval -m "$data/models/$ckpt" --anchors "$anchors" $input --protocol "$protocol" \
    --gt "$wf" --images "$wf/val/images" --threads "$threads" \
    --out "out/eval_widerface/$name" --json "out/eval_widerface/$name.json" >/dev/null
done

field() { # field NAME FILE: a number of the summary JSON, as a percentage
  sed -n "s/^  \"$1\": \([0-9.]*\),*$/\1/p" "$2" | awk '{ printf "%.2f", 100 * $1 }'
}
images=$(sed -n 's/^  "images": \([0-9]*\),*$/\1/p' out/eval_widerface/final-original.json)
echo
echo "WIDER FACE val, $images of 3226 images (AP in %; OMZ: 640x640 stretch, faces >= 64 px)"
echo
echo "| checkpoint | anchors | input | easy | medium | hard | OMZ AP |"
echo "|---|---|---|---:|---:|---:|---:|"
for r in "${runs[@]}"; do
  IFS='|' read -r name ckpt anchors input protocol <<<"$r"
  j=out/eval_widerface/$name.json
  omz=$(field omz_ap "$j")
  echo "| $ckpt | $anchors | ${input#--} | $(field easy "$j") | $(field medium "$j") |" \
    "$(field hard "$j") | ${omz:--} |"
done
