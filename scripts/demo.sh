#!/usr/bin/env bash
# demo.sh - builds retinaface and runs it on a sample picture: text results, JSON and a drawing.
# Usage: bash scripts/demo.sh [MODEL.pth [IMAGE [ANCHORS]]]
#   MODEL    default ../shared/models/mobilenet0.25_Final.pth (see README: getting the weights)
#   IMAGE    default ../shared/data/images/face1mb_sample.jpg
#   ANCHORS  retinaface (default) or face1mb
set -euo pipefail
cd "$(dirname "$0")/.."
data=${RETINAFACE_TESTDATA:-../shared}
model=${1:-$data/models/mobilenet0.25_Final.pth}
image=${2:-$data/data/images/face1mb_sample.jpg}
anchors=${3:-retinaface}
for f in "$model" "$image"; do
  [ -f "$f" ] || { echo "demo: $f not found (see README: getting the weights)" >&2; exit 1; }
done
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target retinaface_cli
mkdir -p out
./build/retinaface detect -m "$model" --anchors "$anchors" --threads "$(nproc)" \
  --json out/demo.json --draw out/demo.jpg "$image"
echo "wrote out/demo.json and out/demo.jpg"
