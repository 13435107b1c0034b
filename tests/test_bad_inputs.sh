#!/usr/bin/env bash
# test_bad_inputs.sh - the bad-input matrix: broken models, images, options and output paths, each refused cleanly.
# Usage: test_bad_inputs.sh RETINAFACE_BINARY SOURCE_DIR
# A refusal passes when: the exit status is the expected one (1 or 2, so no signal), it came within
# the time limit, under a 4 GB address-space limit, with exactly one line on stderr that names the
# file (or option) and the problem, and nothing was left in the working or output folders.
set -u
bin=$(realpath "$1")
src=$(realpath "$2")
data=${RETINAFACE_TESTDATA:-$src/../shared}
. "$src/tests/lib.sh"
limit_s=120
# Sanitizer runtimes reserve terabytes of address space up front; bound memory in plain builds.
if grep -qa -e __asan_init -e __tsan_init "$bin"; then
  vlimit=unlimited
else
  vlimit=$((4 * 1024 * 1024))
fi
case_no=0

# run DIR COMMAND... : runs in DIR (created empty) under the time and memory bounds.
run() {
  local dir=$1
  shift
  mkdir -p "$dir"
  (cd "$dir" && ulimit -v "$vlimit" && exec timeout -k 5 "$limit_s" "$@") \
    >"$tmp/stdout" 2>"$tmp/stderr"
}

report() { # report WHAT SHOWN PROBLEM... : SHOWN is the output whose first line is printed
  local what=$1 shown=$2
  shift 2
  if [ $# -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok   $what: $(head -1 "$shown" | head -c 200)"
  else
    failed=$((failed + 1))
    echo "FAIL $what: $*"
    sed 's/^/  | /' "$tmp/stderr" | head -5
  fi
}

# refused WHAT STATUS NAMED PATTERN COMMAND... : the command must fail as described above;
# NAMED is a fixed string the message must hold (the file or option), PATTERN a regex.
refused() {
  local what=$1 want=$2 named=$3 pattern=$4
  shift 4
  case_no=$((case_no + 1))
  local dir=$tmp/work/$case_no problems=()
  run "$dir" "$@"
  local got=$?
  [ "$got" -eq "$want" ] || problems+=("exit $got, expected $want")
  [ "$got" -lt 124 ] || problems+=("killed or timed out")
  local lines
  lines=$(grep -c '' "$tmp/stderr")
  [ "$lines" -eq 1 ] || problems+=("$lines lines on stderr, expected 1")
  grep -qF -- "$named" "$tmp/stderr" || problems+=("message does not name '$named'")
  grep -qE -- "$pattern" "$tmp/stderr" || problems+=("message does not match /$pattern/")
  local left
  left=$( (find "$dir" -mindepth 1; find "$tmp/outputs" -mindepth 1 2>/dev/null) | head -3)
  [ -z "$left" ] || problems+=("left behind: $left")
  rm -rf "$tmp/outputs"
  report "$what" "$tmp/stderr" "${problems[@]}"
}

# works WHAT PATTERN COMMAND... : the command must succeed and print PATTERN (regex) on stdout.
works() {
  local what=$1 pattern=$2
  shift 2
  case_no=$((case_no + 1))
  local problems=()
  run "$tmp/work/$case_no" "$@"
  local got=$?
  [ "$got" -eq 0 ] || problems+=("exit $got, expected 0")
  grep -qE -- "$pattern" "$tmp/stdout" || problems+=("stdout does not match /$pattern/")
  report "$what" "$tmp/stdout" "${problems[@]}"
}

# ------------------------------------------------------------------------------ the bad files
mnet=$data/models/mobilenet0.25_Final.pth
mnet_zip=$data/models/mobilenet0.25_Final_zip.pth
have_data=0
[ -f "$mnet" ] && [ -f "$mnet_zip" ] && have_data=1
b=$tmp/bad
mkdir -p "$b"
: >"$b/empty.pth"
printf 'this is a text file, not a checkpoint\n' >"$b/text.pth"
: >"$b/empty.jpg"
printf 'hello\n' >"$b/text.jpg"
touch "$b/afile"

# Checkpoints are made from the real MobileNet one when ../shared is there, else from a tiny
# generated state dict (enough for every case that fails before the tensors are checked).
"$py" - "$src/tests" "$b" "$have_data" "$mnet" <<'PY' || { echo "FAIL: cannot generate inputs"; exit 1; }
import collections, io, struct, sys, zipfile, zlib
sys.path.insert(0, sys.argv[1])
import torchsave as ts
out, have_data, mnet = sys.argv[2], sys.argv[3] == "1", sys.argv[4]

def put(name, data):
    with open("%s/%s" % (out, name), "wb") as f:
        f.write(data)

if have_data:
    state = ts.read(mnet)
else:
    state = collections.OrderedDict([("body.stage1.0.0.weight",
                                      ts.float_tensor("0", [0.0] * 216, (8, 3, 3, 3)))])
legacy = ts.legacy_bytes(state)
put("good_legacy.pth", legacy)
magic = struct.pack("<Q", ts.LEGACY_MAGIC & (2**64 - 1))
put("wrong_magic.pth", legacy.replace(magic, b"\x00" + magic[1:], 1))
key = next(iter(state.values())).storage.key
put("zip_missing_entry.pth", ts.zip_bytes(state, "model", skip_storage=key))
z = ts.zip_bytes(state, "model")
put("zip_truncated.pth", z[: len(z) - 30])
put("refused_global.pth",
    legacy.replace(b"ccollections\nOrderedDict\n", b"cposix\nsystem\n", 1))
# The first three streams, then a state dict built with NEWOBJ, which runs code in Python.
head = io.BytesIO(legacy)
for _ in range(3):
    __import__("pickle").load(head)
put("refused_opcode.pth", legacy[: head.tell()] + b"\x80\x02ccollections\nOrderedDict\n)\x81.")
other = collections.OrderedDict([("fc.weight", ts.float_tensor("0", [0.5] * 6, (2, 3))),
                                 ("fc.bias", ts.float_tensor("1", [0.0, 1.0], (2,)))])
put("other_network.pth", ts.legacy_bytes(other))
if have_data:
    t = state["body.stage1.0.0.weight"]
    wrong = collections.OrderedDict(state)
    wrong["body.stage1.0.0.weight"] = ts.Tensor(t.storage, 0, (4, 3, 3, 3), (27, 9, 3, 1))
    put("wrong_shape.pth", ts.legacy_bytes(wrong))
    values = struct.unpack("<%df" % (len(t.storage.data) // 4), t.storage.data)
    wrong = collections.OrderedDict(state)
    wrong["body.stage1.0.0.weight"] = ts.Tensor(
        ts.Storage("DoubleStorage", t.storage.key, struct.pack("<%dd" % len(values), *values)),
        t.offset, t.shape, t.stride)
    put("wrong_dtype.pth", ts.legacy_bytes(wrong))
    extra = collections.OrderedDict(state)
    extra["head.extra.weight"] = ts.float_tensor("extra", [1.0], (1,))
    put("extra_tensor.pth", ts.legacy_bytes(extra))
    extra = collections.OrderedDict(state)
    extra["two\nlines"] = ts.float_tensor("extra", [1.0], (1,))
    put("newline_in_name.pth", ts.legacy_bytes(extra))

# Images: PNGs written here; the JPEG cases start from a real photo.
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

def png(w, h, color, channels, rows=None):
    if rows is None:
        rows = [bytes((x * 7 + y * 13 + c * 31) % 256 for x in range(w) for c in range(channels))
                for y in range(h)]
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

put("one_pixel.png", png(1, 1, 2, 3))
put("grey.png", png(64, 48, 0, 1))
put("rgba.png", png(64, 48, 6, 4))
put("truncated.png", png(64, 48, 2, 3)[:60])
put("huge_header.png", b"\x89PNG\r\n\x1a\n" +
    chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)) +
    chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
PY

# ------------------------------------------------------------------------------ checkpoints
img=$src/fuzz/corpus/image/rgb.png
m=good_legacy.pth
refused "empty checkpoint" 1 empty.pth "not a torch.save" "$bin" detect -m "$b/empty.pth" "$img"
refused "text file as checkpoint" 1 text.pth "not a torch.save" "$bin" detect -m "$b/text.pth" "$img"
refused "missing checkpoint" 1 none.pth "No such file" "$bin" detect -m "$b/none.pth" "$img"
refused "wrong magic number" 1 wrong_magic.pth "magic" "$bin" detect -m "$b/wrong_magic.pth" "$img"
size=$(stat -c %s "$b/$m")
for at in 1 10 200 $((size / 3)) $((size / 2)) $((size - 1)); do
  head -c "$at" "$b/$m" >"$b/truncated_$at.pth"
  refused "checkpoint truncated at $at of $size bytes" 1 "truncated_$at.pth" "truncated|not a torch" \
    "$bin" detect -m "$b/truncated_$at.pth" "$img"
done
refused "zip with a missing entry" 1 zip_missing_entry.pth "has no entry" \
  "$bin" detect -m "$b/zip_missing_entry.pth" "$img"
refused "zip cut short" 1 zip_truncated.pth "end of central directory" \
  "$bin" detect -m "$b/zip_truncated.pth" "$img"
refused "pickle with a refused global" 1 refused_global.pth "refused pickle global 'posix.system'" \
  "$bin" detect -m "$b/refused_global.pth" "$img"
refused "pickle with a refused opcode" 1 refused_opcode.pth "unsupported pickle opcode 0x81" \
  "$bin" detect -m "$b/refused_opcode.pth" "$img"
refused "checkpoint of another network" 1 other_network.pth "not a RetinaFace checkpoint" \
  "$bin" detect -m "$b/other_network.pth" "$img"

# ------------------------------------------------------------------------------ options
refused "threshold not a number" 2 "--threshold" "'abc' is not a number" \
  "$bin" detect -m "$b/$m" --threshold abc "$img"
refused "threshold out of range" 2 "--threshold" "'1.5' is not a number in" \
  "$bin" detect -m "$b/$m" --threshold 1.5 "$img"
refused "zero threads" 2 "--threads" "'0' is not an integer" "$bin" detect -m "$b/$m" --threads 0 "$img"
refused "bad input size" 2 "--input-size" "'0x0' is not WxH" \
  "$bin" detect -m "$b/$m" --input-size 0x0 "$img"
refused "negative long side" 2 "--long-side" "'-5' is not an integer" \
  "$bin" detect -m "$b/$m" --long-side -5 "$img"
refused "unknown kernels" 2 "--kernels" "'sse9' is not" "$bin" detect -m "$b/$m" --kernels sse9 "$img"
refused "zero batch" 2 "--batch" "'0' is not an integer" "$bin" detect -m "$b/$m" --batch 0 "$img"
refused "option without its value" 2 "--json" "needs a value" "$bin" detect -m "$b/$m" "$img" --json
refused "unknown option" 2 "--frobnicate" "unknown option" "$bin" detect -m "$b/$m" --frobnicate "$img"
refused "no images" 2 "no images" "no images given" "$bin" detect -m "$b/$m"

if [ "$have_data" -eq 0 ]; then
  echo "SKIP the tensor, image and output cases: $data/models not found (set RETINAFACE_TESTDATA)"
else
  refused "tensor of the wrong shape" 1 wrong_shape.pth "has shape \[4,3,3,3\], expected \[8,3,3,3\]" \
    "$bin" detect -m "$b/wrong_shape.pth" "$img"
  refused "tensor of the wrong dtype" 1 wrong_dtype.pth "is float64, expected float32" \
    "$bin" detect -m "$b/wrong_dtype.pth" "$img"
  refused "tensor the network does not have" 1 extra_tensor.pth "unexpected tensor 'head.extra.weight'" \
    "$bin" detect -m "$b/extra_tensor.pth" "$img"
  refused "tensor name holding a newline" 1 newline_in_name.pth "unexpected tensor 'two\?lines'" \
    "$bin" detect -m "$b/newline_in_name.pth" "$img"

  # ---------------------------------------------------------------------------- images
  photo=$data/data/images/retinaface_curve_test.jpg
  head -c "$(($(stat -c %s "$photo") / 2))" "$photo" >"$b/truncated.jpg"
  # Scan data overwritten with bytes that are not valid Huffman codes.
  "$py" - "$photo" "$b/corrupt.jpg" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
sos = d.index(b"\xff\xda")
for i in range(sos + 200, sos + 2200, 2):
    d[i] = 0xFF if d[i + 1] >= 0xD8 else d[i]
    d[i + 1] = 0xD0 + (i // 2) % 8  # restart markers in the middle of the data
open(sys.argv[2], "wb").write(d)
PY
  refused "empty image" 1 empty.jpg "not a JPEG or PNG" "$bin" detect -m "$mnet" "$b/empty.jpg"
  refused "text file as image" 1 text.jpg "not a JPEG or PNG" "$bin" detect -m "$mnet" "$b/text.jpg"
  refused "missing image" 1 none.jpg "No such file" "$bin" detect -m "$mnet" "$b/none.jpg"
  refused "corrupt JPEG" 1 corrupt.jpg "corrupt JPEG data" "$bin" detect -m "$mnet" "$b/corrupt.jpg"
  refused "truncated JPEG" 1 truncated.jpg "corrupt JPEG data" "$bin" detect -m "$mnet" "$b/truncated.jpg"
  refused "truncated PNG" 1 truncated.png "corrupt PNG data" "$bin" detect -m "$mnet" "$b/truncated.png"
  refused "PNG header claiming 100000x100000" 1 huge_header.png "100000x100000 is more than the 67108864 pixels" \
    "$bin" detect -m "$mnet" "$b/huge_header.png"
  works "1x1 image: no faces" "one_pixel.png: 0 faces" "$bin" detect -m "$mnet" "$b/one_pixel.png"
  works "1x1 image stretched to 640x640" "one_pixel.png: 0 faces" \
    "$bin" detect -m "$mnet" --input-size 640x640 "$b/one_pixel.png"
  works "grey PNG converted" "grey.png: [0-9]+ face" "$bin" detect -m "$mnet" "$b/grey.png"
  works "RGBA PNG converted" "rgba.png: [0-9]+ face" "$bin" detect -m "$mnet" "$b/rgba.png"
  works "zip checkpoint" "rgba.png: [0-9]+ face" "$bin" detect -m "$mnet_zip" "$b/rgba.png"

  # ---------------------------------------------------------------------------- outputs
  g=$b/grey.png
  refused "unwritable --json path" 1 "afile/r.json" "Not a directory" \
    "$bin" detect -q -m "$mnet" --json "$b/afile/r.json" "$g"
  refused "unwritable --draw file" 1 "afile/d.jpg" "Not a directory" \
    "$bin" detect -q -m "$mnet" --draw "$b/afile/d.jpg" "$g"
  refused "unwritable --draw folder" 1 "afile/drawn" "Not a directory" \
    "$bin" detect -q -m "$mnet" --draw "$b/afile/drawn" "$g" "$b/rgba.png"
  refused "unwritable --dump-tensors folder" 1 "afile/t" "Not a directory" \
    "$bin" detect -q -m "$mnet" --dump-tensors "$b/afile/t" "$g"
  mkdir -p "$tmp/outputs"
  refused "no JSON left when --draw fails" 1 "afile/drawn" "Not a directory" \
    "$bin" detect -q -m "$mnet" --json "$tmp/outputs/r.json" --draw "$b/afile/drawn" "$g" "$b/rgba.png"
fi

finish
