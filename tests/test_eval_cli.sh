#!/usr/bin/env bash
# test_eval_cli.sh - `retinaface eval` end to end on 12 WIDER images: JSON, result files, --predictions round trip, errors.
# Usage: test_eval_cli.sh RETINAFACE_BINARY SOURCE_DIR
set -u
bin=$1
src=$2
data=${RETINAFACE_TESTDATA:-$src/../shared}
wf=$data/data/widerface
model=$data/models/mobilenet0.25_Final.pth
if [ ! -d "$wf/val/images" ] || [ ! -f "$model" ]; then
  echo "SKIP test_eval_cli: $wf/val/images or $model not found (set RETINAFACE_TESTDATA)"
  exit 77
fi
. "$src/tests/lib.sh"

check "eval --help" 0 "$bin" eval --help
expect "help names --predictions and --protocol" grep -q -- "--predictions.*" "$tmp/out"
check "eval without ground truth" 2 "$bin" eval -m "$model"
check "eval without model or predictions" 2 "$bin" eval --gt "$wf"
check "eval with both model and predictions" 2 "$bin" eval -m "$model" --predictions x --gt "$wf"
check "bad --protocol" 2 "$bin" eval -m "$model" --gt "$wf" --protocol voc
check "unknown option" 2 "$bin" eval --gt "$wf" --frobnicate

# The first 12 images of the ground truth present here: all 0--Parade; a few seconds.
run=(eval -m "$model" --anchors retinaface --gt "$wf" --images "$wf/val/images" --limit 12 -q)
check "eval 12 images" 0 "$bin" "${run[@]}" --out "$tmp/run" --json "$tmp/run.json"
expect "the table names the subset" grep -q "12 of 3226 images" "$tmp/out"
expect "JSON: AP fields are fractions, images 12" python3 - "$tmp/run.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("easy", "medium", "hard", "omz_ap"):
    assert isinstance(d[k], float) and 0 <= d[k] <= 1, (k, d[k])
assert d["images"] == 12 and d["omz_images"] == 12 and d["images_total"] == 3226, d
assert d["easy"] > 0.5 and d["hard"] > 0.3, d  # a working model finds most faces
assert d["faces"]["easy"] <= d["faces"]["medium"] <= d["faces"]["hard"], d
PY
expect "12 official and 12 OMZ result files" \
  test "$(find "$tmp/run/predictions" -name '*.txt' | wc -l)" -eq 12 -a \
  "$(find "$tmp/run/predictions_omz" -name '*.txt' | wc -l)" -eq 12
expect "result files: name, count, then that many 'x y w h score' lines in score order" \
  python3 - "$tmp/run/predictions" <<'PY'
import os, sys
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        lines = open(os.path.join(root, f)).read().splitlines()
        assert lines[0] == f[:-4], (f, lines[0])
        assert int(lines[1]) == len(lines) - 2, f
        rows = [l.split() for l in lines[2:]]
        assert all(len(r) == 5 and all(v.lstrip("-").isdigit() for v in r[:4]) for r in rows), f
        scores = [float(r[4]) for r in rows]
        assert scores == sorted(scores, reverse=True) and min(scores) > 0.02, f
PY
for p in easy medium hard omz; do
  expect "plot pr_$p.svg" grep -q "</svg>" "$tmp/run/pr_$p.svg"
done
expect "summary.json equals --json" cmp -s "$tmp/run.json" "$tmp/run/summary.json"

# Scoring the written files again gives the same numbers.
check "eval --predictions" 0 "$bin" eval --predictions "$tmp/run" --gt "$wf" --json "$tmp/pred.json"
expect "--predictions round trip: same AP, faces and counts" python3 - "$tmp/run.json" "$tmp/pred.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for k in ("easy", "medium", "hard", "omz_ap", "images", "omz_images", "faces", "omz_faces",
          "detections", "omz_detections"):
    assert a[k] == b[k], (k, a[k], b[k])
PY
check "--protocol wider on one result folder" 0 "$bin" eval --protocol wider \
  --predictions "$tmp/run/predictions" --gt "$wf" --json -
expect "JSON on stdout, omz_ap null" python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); assert d["omz_ap"] is None and d["hard"] > 0, d' "$tmp/out"
check "--protocol omz, another input policy" 0 "$bin" eval -m "$model" --gt "$wf" --limit 3 \
  --protocol omz --long-side 320 --json "$tmp/omz.json" -q
expect "omz only: easy null" python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); assert d["easy"] is None and d["omz_images"] == 3, d' \
  "$tmp/omz.json"

# Errors: non-zero exit and a message naming what is wrong.
check "--gt not a directory" 1 "$bin" "${run[@]/$wf/$tmp/none}"
mkdir -p "$tmp/gt/ground_truth"
check "ground truth missing" 1 "$bin" eval -m "$model" --gt "$tmp/gt" --images "$wf/val/images"
expect "missing file named" grep -q "wider_face_val.mat: not found" "$tmp/err"
cp "$wf"/ground_truth/*.mat "$wf/wider_face_val_bbx_gt.txt" "$tmp/gt/ground_truth/"
head -c 200000 "$wf/ground_truth/wider_face_val.mat" >"$tmp/gt/ground_truth/wider_face_val.mat"
check "truncated .mat" 1 "$bin" eval -m "$model" --gt "$tmp/gt" --images "$wf/val/images"
expect "truncated .mat named" grep -q "wider_face_val.mat.*truncated" "$tmp/err"
cp "$wf/ground_truth/wider_face_val.mat" "$tmp/gt/ground_truth/"
printf '0--Parade/x.jpg\nmany\n' >"$tmp/gt/ground_truth/wider_face_val_bbx_gt.txt"
check "corrupt text ground truth" 1 "$bin" eval -m "$model" --gt "$tmp/gt" --images "$wf/val/images"
expect "corrupt text named with its line" grep -q "wider_face_val_bbx_gt.txt:2" "$tmp/err"
check "images folder missing" 1 "$bin" eval -m "$model" --gt "$wf" --images "$tmp/none"
mkdir -p "$tmp/empty"
check "no val image in the folder" 1 "$bin" eval -m "$model" --gt "$wf" --images "$tmp/empty"
expect "says none was found" grep -q "no WIDER val image found" "$tmp/err"
check "no result files" 1 "$bin" eval --predictions "$tmp/empty" --gt "$wf"
check "missing model" 1 "$bin" eval -m "$tmp/none.pth" --gt "$wf" --limit 1

finish
