#!/usr/bin/env bash
# test_outputs_cli.sh - what the retinaface command does with the names it is told to write
# (--json, --draw, --dump-tensors, convert): regular files replaced whole, links followed,
# FIFOs, device nodes and /dev/stdout-like links written in place and never replaced, modes
# from the umask, and a convert killed mid-way leaving the previous file intact. Everything is
# made inside the test's own temporary folder; /dev is never touched.
# Usage: test_outputs_cli.sh RETINAFACE_BINARY SOURCE_DIR
set -u
bin=$1
src=$2
data=${RETINAFACE_TESTDATA:-$src/../shared}
. "$src/tests/lib.sh"

if [ ! -d "$data/models" ]; then
  echo "SKIP test_outputs_cli: $data/models not found (set RETINAFACE_TESTDATA)"
  exit 77
fi
m=$data/models/mobilenet0.25_Final.pth
img=$data/data/images/face1mb_sample.jpg
w=$tmp/w
mkdir -p "$w"
umask 022

# the reference outputs, written to plain new files
check "plain outputs" 0 "$bin" detect -q -m "$m" --json "$w/ref.json" --draw "$w/ref.png" \
  --dump-tensors "$w/ref_t" "$img"
expect "new JSON file is 0644 under umask 022" test "$(stat -c %a "$w/ref.json")" = 644
expect "new drawing is 0644 under umask 022" test "$(stat -c %a "$w/ref.png")" = 644
expect "new tensor file is 0644" test "$(stat -c %a "$w/ref_t/face_rpn_cls_prob.npy")" = 644
(umask 077 && "$bin" detect -q -m "$m" --json "$w/private.json" "$img")
expect "umask 077 gives 0600" test "$(stat -c %a "$w/private.json")" = 600
chmod 640 "$w/ref.json"
check "rewrite an existing JSON file" 0 "$bin" detect -q -m "$m" --json "$w/ref.json" "$img"
expect "an existing file keeps its mode" test "$(stat -c %a "$w/ref.json")" = 640

# symbolic links: the link stays, its target gets the output
echo old >"$w/target.json"
ln -s target.json "$w/link.json"
ln -s drawn.png "$w/link.png"
mkdir -p "$w/t"
ln -s ../cls_target.npy "$w/t/face_rpn_cls_prob.npy"
check "outputs through links" 0 "$bin" detect -q -m "$m" --json "$w/link.json" \
  --draw "$w/link.png" --dump-tensors "$w/t" "$img"
expect "JSON link kept" test -L "$w/link.json"
expect "JSON link target written" cmp -s "$w/target.json" "$w/ref.json"
expect "drawing link kept, target written" test -L "$w/link.png" -a -s "$w/drawn.png"
expect "drawing equals the plain one" cmp -s "$w/drawn.png" "$w/ref.png"
expect "tensor link kept" test -L "$w/t/face_rpn_cls_prob.npy"
expect "tensor link target written" cmp -s "$w/cls_target.npy" "$w/ref_t/face_rpn_cls_prob.npy"

# FIFOs: written in place, a waiting reader gets the whole output
mkfifo "$w/json.fifo" "$w/draw.png"
cat "$w/json.fifo" >"$w/from_fifo.json" &
reader=$!
cat "$w/draw.png" >"$w/from_fifo.png" &
reader2=$!
check "JSON and drawing into FIFOs" 0 timeout 60 "$bin" detect -q -m "$m" --json "$w/json.fifo" \
  --draw "$w/draw.png" "$img"
wait "$reader" "$reader2"
expect "FIFO reader got the JSON" cmp -s "$w/from_fifo.json" "$w/ref.json"
expect "FIFO reader got the drawing" cmp -s "$w/from_fifo.png" "$w/ref.png"
expect "FIFOs are still FIFOs" test -p "$w/json.fifo" -a -p "$w/draw.png"
# a reader that reads one byte and goes: a write error naming the FIFO, status 1
head -c 1 "$w/json.fifo" >/dev/null &
check "FIFO whose reader leaves" 1 timeout 60 "$bin" detect -q -m "$m" --threshold 0.02 \
  --json "$w/json.fifo" "$img" "$img" "$img" "$img"
wait
expect "the error names the FIFO" grep -q "json.fifo" "$tmp/err"
expect "still a FIFO" test -p "$w/json.fifo"

# a link to /proc/self/fd/1 is what /dev/stdout is: the JSON goes to standard output
ln -s /proc/self/fd/1 "$w/stdout"
check "JSON to a /dev/stdout-like link" 0 "$bin" detect -q -m "$m" --json "$w/stdout" "$img"
expect "standard output got the JSON" cmp -s "$tmp/out" "$w/ref.json"
expect "the link is still a link" test -L "$w/stdout"

# device nodes, made here (root only): written in place, never replaced
if [ "$(id -u)" -eq 0 ] && mknod "$w/null" c 1 3 2>/dev/null && mknod "$w/full" c 1 7 2>/dev/null &&
  (: >"$w/null") 2>/dev/null; then
  check "JSON to a null device" 0 "$bin" detect -q -m "$m" --json "$w/null" "$img"
  expect "the null device is still a device" test -c "$w/null"
  check "JSON to a full device" 1 "$bin" detect -q -m "$m" --json "$w/full" "$img"
  expect "the error names it and says why" grep -q "cannot write $w/full: No space left" "$tmp/err"
  expect "the error is one line" test "$(wc -l <"$tmp/err")" -eq 1
  expect "the full device is still a device" test -c "$w/full"
  mkdir -p "$w/fulldir" && mknod "$w/fulldir/face_rpn_cls_prob.npy" c 1 7
  check "a tensor to a full device" 1 "$bin" detect -q -m "$m" --dump-tensors "$w/fulldir" "$img"
  expect "still a device" test -c "$w/fulldir/face_rpn_cls_prob.npy"
  check "convert to a full device" 1 "$bin" convert "$m" "$w/full"
  expect "convert names it" grep -q "$w/full" "$tmp/err"
  check "convert to a null device" 0 "$bin" convert "$m" "$w/null" --format onnx
  expect "devices kept" test -c "$w/null" -a -c "$w/full"
else
  echo "SKIP device-node cases: not root, or this file system does not open device nodes"
fi

# convert through a link and into a FIFO
ln -s model_target.rfm "$w/model_link.rfm"
check "convert through a link" 0 "$bin" convert "$m" "$w/model_link.rfm"
expect "the link stays, its target is the model" test -L "$w/model_link.rfm" -a -s "$w/model_target.rfm"
mkfifo "$w/model.fifo"
cat "$w/model.fifo" >"$w/from_fifo.rfm" &
reader=$!
check "convert into a FIFO" 0 timeout 60 "$bin" convert "$m" "$w/model.fifo"
wait "$reader"
expect "the FIFO's reader got the model" cmp -s "$w/from_fifo.rfm" "$w/model_target.rfm"

# a convert killed with SIGKILL while it writes leaves the previous file whole
big=$data/models/resnet50_synthetic.pth
[ -f "$big" ] || big=$m
echo "previous model" >"$w/killed.onnx"
killed=0
for attempt in 1 2 3 4 5 6 7 8; do
  "$bin" convert "$big" "$w/killed.onnx" --format onnx >/dev/null 2>&1 &
  pid=$!
  # wait until its temporary file exists, then kill it mid-write
  for _ in $(seq 1 2000); do
    if compgen -G "$w/killed.onnx.tmp-*" >/dev/null; then
      kill -9 "$pid" 2>/dev/null && killed=1
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.005
  done
  wait "$pid" 2>/dev/null
  [ "$killed" -eq 1 ] && break
  echo "previous model" >"$w/killed.onnx" # it finished first: try again
done
expect "convert was killed while writing" test "$killed" -eq 1
expect "the previous file is intact" test "$(cat "$w/killed.onnx")" = "previous model"
rm -f "$w"/killed.onnx.tmp-*

finish
