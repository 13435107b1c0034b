#!/usr/bin/env bash
# check_onnx.sh - exports MobileNet0.25 and the synthetic ResNet50 to ONNX and checks them: onnx.checker, then ONNX Runtime against `retinaface detect --dump-tensors` at two sizes and a batch of two.
#   scripts/check_onnx.sh [path/to/retinaface]        (default: build/retinaface)
# Needs ../shared (models, golden inputs) and the peer kit: bash ../shared/peers/setup.sh
# (python3-onnx, python3-opencv, onnxruntime-node). Exit status 0 when every check passes.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$(realpath "${1:-$ROOT/build/retinaface}")
SHARED=$ROOT/../shared
TOL=2e-4
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "no retinaface binary at $BIN (build first)"; exit 2; }
[ -d "$SHARED/models" ] || { echo "no $SHARED/models"; exit 2; }
WORK=$(mktemp -d /tmp/rf_check_onnx.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail=0

# input PNGs of exact network sizes (so that detect's resize is a no-op) and the same pixels
# as the ONNX input: B, G, R minus (104, 117, 123), NCHW float32
make_case() { # DIR HEIGHT WIDTH IMAGE...
  local dir=$1 h=$2 w=$3; shift 3
  mkdir -p "$dir"
  "$PY" - "$dir" "$h" "$w" "$@" <<'PYEOF'
import sys, cv2, numpy as np
d, h, w, images = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
batch = []
for i, src in enumerate(images):
    img = cv2.resize(cv2.imread(src, cv2.IMREAD_COLOR), (w, h), interpolation=cv2.INTER_AREA)
    cv2.imwrite(f"{d}/input{i}.png", img)
    batch.append((img.astype(np.float32) - np.float32([104, 117, 123])).transpose(2, 0, 1))
np.save(f"{d}/input.npy", np.ascontiguousarray(np.stack(batch), dtype=np.float32))
PYEOF
}

G=$SHARED/golden
for model in mobilenet0.25_Final resnet50_synthetic; do
  onnx=$WORK/$model.onnx
  "$BIN" convert "$SHARED/models/$model.pth" "$onnx"
  if "$PY" -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' "$onnx"; then
    echo "$model: onnx.checker.check_model (full_check) ok"
  else
    echo "$model: onnx.checker FAILED"; fail=1
  fi
  for case in "640 640 $G/mnet_640/input.png" "480 720 $G/r50_orig/input.png" \
              "480 720 $G/mnet_orig/input.png $G/face1mb_orig/input.png" "451 707 $G/r50_640/input.png"; do
    set -- $case
    h=$1 w=$2; shift 2
    dir=$WORK/${model}_${h}x${w}_b$#
    make_case "$dir" "$h" "$w" "$@"
    pngs=("$dir"/input*.png)
    if [ ${#pngs[@]} -gt 1 ]; then size=(--input-size "${w}x${h}"); else size=(--original-size); fi
    "$BIN" detect -q -m "$SHARED/models/$model.pth" "${size[@]}" --kernels reference \
      --dump-tensors "$dir" "${pngs[@]}"
    echo "== $model, batch ${#pngs[@]}, ${h}x${w}"
    node "$ROOT/scripts/ort_compare.js" "$onnx" "$dir/input.npy" "$dir" "$TOL" || fail=1
  done
done
[ $fail = 0 ] && echo "check_onnx: all passed" || echo "check_onnx: FAILED"
exit $fail
