#!/usr/bin/env bash
# test_cli.sh - the retinaface command as scripts use it: help, exit codes, JSON, drawings, tensors.
# Usage: test_cli.sh RETINAFACE_BINARY SOURCE_DIR
set -u
bin=$1
src=$2
data=${RETINAFACE_TESTDATA:-$src/../shared}
. "$src/tests/lib.sh"

check "top-level help" 0 "$bin" --help
check "version" 0 "$bin" version
check "no command" 2 "$bin"
check "unknown command" 2 "$bin" frobnicate
check "detect --help" 0 "$bin" detect --help
expect "detect --help names --input-size" grep -q -- "--input-size" "$tmp/out"
check "bench --help" 0 "$bin" bench --help
check "detect without model" 2 "$bin" detect x.jpg
check "detect unknown option" 2 "$bin" detect --frobnicate
check "bad --threshold" 2 "$bin" detect -m m.pth --threshold 2 x.jpg
check "bad --input-size" 2 "$bin" detect -m m.pth --input-size 640 x.jpg
check "two input policies" 2 "$bin" detect -m m.pth --input-size 64x64 --original-size x.jpg
check "bad --anchors" 2 "$bin" detect -m m.pth --anchors yolo x.jpg
check "missing model file" 1 "$bin" detect -m "$tmp/none.pth" x.jpg
expect "missing model is named" grep -q "none.pth" "$tmp/err"
printf 'not a checkpoint' >"$tmp/bad.pth"
check "foreign model file" 1 "$bin" detect -m "$tmp/bad.pth" x.jpg

if [ ! -d "$data/models" ]; then
  echo "SKIP model-based CLI checks: $data/models not found (set RETINAFACE_TESTDATA)"
else
  m=$data/models/mobilenet0.25_Final.pth
  img=$data/data/images/face1mb_sample.jpg
  check "detect to JSON" 0 "$bin" detect -m "$m" --json "$tmp/d.json" --draw "$tmp/d.jpg" "$img"
  expect "JSON parses and has faces with 5 landmarks" "$py" - "$tmp/d.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
im = d["images"][0]
assert im["width"] == 1600 and im["height"] == 898, im
assert len(im["faces"]) >= 10, len(im["faces"])
for f in im["faces"]:
    assert len(f["box"]) == 4 and len(f["landmarks"]) == 5 and f["score"] > 0.5
PY
  expect "drawing written" test -s "$tmp/d.jpg"
  check "detect to stdout JSON" 0 "$bin" detect -m "$m" --json - "$img"
  expect "stdout is JSON only" "$py" -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out"
  check "unreadable image gives status 1" 1 "$bin" detect -m "$m" "$tmp/bad.pth" "$img"
  expect "the good image still reported" grep -q "face1mb_sample.jpg: " "$tmp/out"
  g=$data/golden/mnet_640
  check "dump tensors of a batch" 0 "$bin" detect -m "$m" --input-size 640x640 \
    --dump-tensors "$tmp/t" "$g/input.png" "$data/golden/r50_batch2/input0.png"
  expect "tensors have [2,16800,k] shapes and match golden" "$py" - "$tmp/t" "$g" <<'PY'
import sys
try:
    import numpy as np
except ImportError:
    print("numpy missing: shape check only by size"); np = None
import os
t, g = sys.argv[1], sys.argv[2]
for name, k in (("face_rpn_cls_prob", 2), ("face_rpn_bbox_pred", 4), ("face_rpn_landmark_pred", 10)):
    p = os.path.join(t, name + ".npy")
    assert os.path.getsize(p) == 128 + 2 * 16800 * k * 4, p
    if np is not None:
        a = np.load(p); b = np.load(os.path.join(g, name + ".npy"))
        assert a.shape == (2, 16800, k), a.shape
        assert abs(a[0] - b[0]).max() < 1e-4, abs(a[0] - b[0]).max()
PY
  # decode + stretch of the source JPEG are bit-exact with OpenCV, so the whole pipeline from the
  # JPEG meets the golden tensors and detections of PyTorch
  check "from the source JPEG at 640x640" 0 "$bin" detect -m "$m" --input-size 640x640 \
    --dump-tensors "$tmp/s" --json "$tmp/s.json" "$data/data/images/retinaface_curve_test.jpg"
  expect "source JPEG: golden tensors and the 22 golden faces in image pixels" \
    "$py" - "$tmp/s" "$g" "$tmp/s.json" <<'PY'
import json, os, sys
t, g, j = sys.argv[1:4]
try:
    import numpy as np
    for name in ("face_rpn_cls_prob", "face_rpn_bbox_pred", "face_rpn_landmark_pred"):
        a = np.load(os.path.join(t, name + ".npy")); b = np.load(os.path.join(g, name + ".npy"))
        assert abs(a - b).max() < 1e-4, (name, abs(a - b).max())
except ImportError:
    print("numpy missing: tensors not compared")
gold = [f for f in json.load(open(os.path.join(g, "detections.json")))["images"][0]["faces"]
        if f["score"] > 0.5]
ours = json.load(open(j))["images"][0]["faces"]
assert len(ours) == len(gold) == 22, (len(ours), len(gold))
sx, sy = 1024 / 640, 624 / 640
for f in gold:
    b = f["box"]
    want = [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy]
    assert any(abs(o["score"] - f["score"]) < 1e-3 and
               max(abs(p - q) for p, q in zip(o["box"], want)) < 0.05 for o in ours), f
PY
  check "bench runs and prints JSON" 0 "$bin" bench -m "$m" --input-size 160x128 --runs 2 --warmup 1 --json -
  expect "bench JSON fields" "$py" -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["input"]==[1,3,128,160] and d["median_ms"]>0 and d["peak_rss_mb"]>0 and d["threads"]==1
assert d["fma_peak_gflops"]>0 and d["peak_percent"]>0 and d["layers"]' "$tmp/out"
fi
# --precision: in every model command's help, refused when unknown, reported by bench.
for cmd in detect bench eval video; do
  check "$cmd --help" 0 "$bin" $cmd --help
  expect "$cmd --help names --precision" grep -q -- "--precision" "$tmp/out"
done
check "--precision fp16 refused" 2 "$bin" detect -m m.pth --precision fp16 x.jpg
expect "one line naming fp16" "$py" -c '
import sys; e = open(sys.argv[1]).read()
assert e.count("\n") == 1 and "fp16" in e and "--precision" in e, e' "$tmp/err"
check "--precision '' refused" 2 "$bin" bench -m m.pth --precision ''
if [ -d "$data/models" ]; then
  m=$data/models/mobilenet0.25_Final.pth
  img=$data/data/images/face1mb_sample.jpg
  # A CPU without the features (RETINAFACE_CPU_DISABLE): one line naming it, status 1; the
  # reference kernels still run that precision.
  for pf in bf16:avx512_bf16 int8:avx512_vnni; do
    p=${pf%%:*} f=${pf#*:}
    check "detect --precision $p without $f" 1 env RETINAFACE_CPU_DISABLE=$f \
      "$bin" detect -m "$m" --precision $p --input-size 64x64 "$img"
    expect "one line naming $f" "$py" -c '
import sys; e = open(sys.argv[1]).read()
assert e.count("\n") == 1 and sys.argv[2] in e, e' "$tmp/err" "$f"
    check "detect --kernels reference --precision $p without $f" 0 env \
      RETINAFACE_CPU_DISABLE=$f "$bin" detect -m "$m" --kernels reference --precision $p \
      --input-size 96x96 --json - "$img"
    expect "reference $p JSON parses" "$py" -c 'import json,sys; json.load(open(sys.argv[1]))' \
      "$tmp/out"
  done
  # bench names the set and the precision, in its text and its JSON; where the CPU lacks the
  # set, the run fails with status 1 instead
  for pf in bf16:avx512_bf16 int8:avx512_vnni; do
    p=${pf%%:*} set=${pf#*:}
    grep -qw "$set" /proc/cpuinfo 2>/dev/null || { echo "  (no $set here: bench --precision $p not run)"; continue; }
    check "bench --precision $p --json -" 0 "$bin" bench -m "$m" --precision $p \
      --input-size 96x96 --runs 1 --warmup 0 --json -
    expect "bench JSON: precision $p, kernel_set $set" "$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["precision"] == sys.argv[2] and d["kernel_set"] == sys.argv[3], d
assert d["kernels"] == "avx512" and d["median_ms"] > 0, d' "$tmp/out" "$p" "$set"
    check "bench --precision $p text" 0 "$bin" bench -m "$m" --precision $p \
      --input-size 96x96 --runs 1 --warmup 0
    expect "bench text header names $set and $p" grep -q "$set kernels, $p," "$tmp/out"
  done
  check "bench fp32 JSON" 0 "$bin" bench -m "$m" --input-size 96x96 --runs 1 --warmup 0 --json -
  expect "bench JSON: precision fp32" "$py" -c '
import json, sys; d = json.load(open(sys.argv[1]))
assert d["precision"] == "fp32" and d["kernel_set"] == d["kernels"], d' "$tmp/out"
  # eval in int8 on 3 WIDER images
  wf=$data/data/widerface
  if [ -d "$wf/val/images" ] && grep -qw avx512_vnni /proc/cpuinfo; then
    check "eval --precision int8, 3 images" 0 "$bin" eval -m "$m" --precision int8 --gt "$wf" \
      --images "$wf/val/images" --limit 3 -q --json "$tmp/e8.json"
    expect "eval int8 JSON: 3 images" "$py" -c '
import json, sys; d = json.load(open(sys.argv[1])); assert d["images"] == 3, d' "$tmp/e8.json"
  fi
  # int8 calibration into a native file: on a folder and a file, at 320x240; the file's int8
  # faces agree with fp32's (the reference kernels run int8 on any CPU)
  mkdir -p "$tmp/cal"
  cp "$img" "$tmp/cal/a.jpg"
  check "convert --calibration" 0 "$bin" convert "$m" "$tmp/cal.rfm" --calibration "$tmp/cal" \
    --calibration "$data/data/images/face1mb_ncnn_sample.jpg" --input-size 320x240 --threads 2
  expect "convert says the ranges are calibrated" grep -q "int8 ranges calibrated" "$tmp/out"
  expect "calibration progress: 2/2 images" grep -q "calibration: 2/2 images" "$tmp/err"
  check "int8 on the calibrated file" 0 "$bin" detect -m "$tmp/cal.rfm" --kernels reference \
    --precision int8 --input-size 320x240 --json "$tmp/cal8.json" "$img"
  check "fp32 on it" 0 "$bin" detect -m "$tmp/cal.rfm" --input-size 320x240 \
    --json "$tmp/cal32.json" "$img"
  expect "calibrated int8 finds fp32's faces" "$py" - "$tmp/cal8.json" "$tmp/cal32.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["images"][0]["faces"] for p in sys.argv[1:3])
def iou(p, q):
    w = min(p[2], q[2]) - max(p[0], q[0]); h = min(p[3], q[3]) - max(p[1], q[1])
    i = max(w, 0) * max(h, 0)
    return i / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - i)
assert len(b) >= 5, len(b)
found = sum(any(iou(f["box"], g["box"]) >= 0.9 for g in a) for f in b)
assert found >= 0.9 * len(b), (found, len(b))
PY
  check "--calibration for ONNX refused" 2 "$bin" convert "$m" "$tmp/x.onnx" --calibration "$img"
  check "--input-size without --calibration refused" 2 "$bin" convert "$m" "$tmp/x.rfm" \
    --input-size 64x64
  mkdir -p "$tmp/empty"
  check "calibration folder without images" 1 "$bin" convert "$m" "$tmp/x.rfm" \
    --calibration "$tmp/empty"
  expect "it says so" grep -q "no images to calibrate on" "$tmp/err"
  check "missing calibration image" 1 "$bin" convert "$m" "$tmp/x.rfm" \
    --calibration "$tmp/none.jpg"
  expect "missing calibration image is named, nothing written" "$py" -c '
import os, sys; e = open(sys.argv[1]).read()
assert e.count("\n") == 1 and "none.jpg" in e, e
assert not os.path.exists(sys.argv[2])' "$tmp/err" "$tmp/x.rfm"
fi
finish
