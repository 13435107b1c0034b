#!/usr/bin/env bash
# test_video.sh - `retinaface video` on clips the test makes from the shared photos with the ffmpeg
# CLI: frame counts, sizes and audio of the outputs, faces equal to `detect` on the same frames,
# anonymized pixels changed inside faces only, aligned crops, --limit/--every, damaged and foreign
# inputs, a local HTTP URL, a FIFO of raw frames and an image sequence standing in for a camera,
# Ctrl-C and kill.
# Usage: test_video.sh RETINAFACE_BINARY SOURCE_DIR
set -u
bin=$1
src=$2
data=${RETINAFACE_TESTDATA:-$src/../shared}
. "$src/tests/lib.sh"

check "video --help" 0 "$bin" video --help
expect "help names --anonymize and --crops" grep -q -- "--anonymize HOW" "$tmp/out"
if "$bin" video -m m.pth "$tmp/none.mp4" 2>&1 | grep -q "this build has no FFmpeg"; then
  echo "SKIP video checks: built without FFmpeg ($passed passed so far)"
  exit 77
fi
check "video without model" 2 "$bin" video clip.mp4
check "video without input" 2 "$bin" video -m m.pth
check "two inputs" 2 "$bin" video -m m.pth a.mp4 b.mp4
check "bad --anonymize" 2 "$bin" video -m m.pth -o o.mp4 --anonymize smudge a.mp4
check "--anonymize without -o" 2 "$bin" video -m m.pth --anonymize blur a.mp4
check "unknown output container" 2 "$bin" video -m m.pth -o out.xyz a.mp4
expect "the output is named" grep -q "out.xyz" "$tmp/err"
check "--every 0" 2 "$bin" video -m m.pth --every 0 a.mp4
check "unknown --codec" 2 "$bin" video -m m.pth -o o.mp4 --codec nosuch a.mp4
check "--input-option without =" 2 "$bin" video -m m.pth --input-option size a.mp4
check "detect --help names --crops" 0 "$bin" detect --help
expect "detect --crops documented" grep -q -- "--crops DIR" "$tmp/out"

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  echo "SKIP video checks: the ffmpeg CLI is not installed (scripts/install-deps.sh)"
  exit 77
fi
if [ ! -d "$data/models" ]; then
  echo "SKIP video checks: $data/models not found (set RETINAFACE_TESTDATA)"
  exit 77
fi
m=$data/models/mobilenet0.25_Final.pth
photo=$data/data/images/face1mb_ncnn_sample.jpg # eight children, 1024x768
v() { "$bin" video -m "$m" --threads 2 -q "$@"; }
tv() { timeout -k 5 300 "$bin" video -m "$m" --threads 2 -q "$@"; } # reading FIFOs: never hang
ff() { ffmpeg -nostdin -v error -y "$@"; }
# frames COUNT of a file's video stream as decoded
frames() { ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames \
  -of default=nw=1:nk=1 "$1"; }
# raw FILE OUT: the video's frames as packed BGR bytes
raw() { ff -i "$1" -f rawvideo -pix_fmt bgr24 "$2"; }

# The clips: the photo panned and scaled to 320x240 at 25 frames a second.
pan="crop=900:675:'t*100':'t*75',scale=320:240"
ff -loop 1 -i "$photo" -f lavfi -i "sine=frequency=440:sample_rate=44100" \
  -filter_complex "[0:v]$pan,format=yuv420p[v]" -map "[v]" -map 1:a -t 0.4 -r 25 \
  -c:v libx264 -preset veryfast -c:a aac -shortest "$tmp/clip.mp4"
# lossless BGR (FFV1), so that its decoded pixels are exactly what ffmpeg hands to `detect`
ff -loop 1 -i "$photo" -vf "$pan,format=bgr0" -t 0.24 -r 25 -c:v ffv1 "$tmp/lossless.mkv"
expect "test clips made" test -s "$tmp/clip.mp4" -a -s "$tmp/lossless.mkv"

# --- drawn video, JSON Lines, audio
check "drawn mp4 with JSON" 0 v --json "$tmp/c.jsonl" -o "$tmp/drawn.mp4" "$tmp/clip.mp4"
expect "drawn video: 10 frames of 320x240 at 25/1, H.264 and the AAC audio copied" \
  "$py" - "$tmp/drawn.mp4" <<'PY'
import json, subprocess, sys
p = json.loads(subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of",
                               "json", sys.argv[1]], capture_output=True, check=True).stdout)
vs = [s for s in p["streams"] if s["codec_type"] == "video"]
au = [s for s in p["streams"] if s["codec_type"] == "audio"]
assert len(vs) == 1 and vs[0]["codec_name"] == "h264", vs
assert (vs[0]["width"], vs[0]["height"], vs[0]["r_frame_rate"]) == (320, 240, "25/1"), vs[0]
assert vs[0]["nb_read_frames"] == "10", vs[0]["nb_read_frames"]
assert len(au) == 1 and au[0]["codec_name"] == "aac", au
PY
expect "JSON Lines: one object per frame, times, sizes, faces" "$py" - "$tmp/c.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [d["frame"] for d in lines] == list(range(10)), [d["frame"] for d in lines]
for d in lines:
    assert abs(d["time"] - d["frame"] * 0.04) < 1e-6, d["time"]
    assert (d["width"], d["height"]) == (320, 240)
    assert 6 <= len(d["faces"]) <= 8, len(d["faces"])
    for f in d["faces"]:
        assert f["score"] > 0.5 and len(f["box"]) == 4 and len(f["landmarks"]) == 5
PY
check "avi output (MPEG-4)" 0 v -o "$tmp/drawn.avi" "$tmp/clip.mp4"
expect "avi holds 10 frames" test "$(frames "$tmp/drawn.avi")" = 10
check "JSON to stdout" 0 v --json - "$tmp/clip.mp4"
expect "stdout is JSON Lines only" "$py" -c '
import json, sys; assert len([json.loads(l) for l in open(sys.argv[1])]) == 10' "$tmp/out"
check "report on stderr" 0 "$bin" video -m "$m" "$tmp/clip.mp4"
expect "report: frames, FPS, latency, stages" grep -q "throughput .* FPS, latency .* ms" "$tmp/err"
expect "report: per-stage times" grep -q "decode .*inference .*encode" "$tmp/err"
if command -v script >/dev/null; then # a terminal, for the progress line
  check "progress on a terminal" 0 script -qec "'$bin' video -m '$m' --limit 6 '$tmp/clip.mp4'" \
    "$tmp/typescript"
  expect "progress line counts to 6/6" grep -q "frame 6/6 (100%)" "$tmp/typescript"
fi

# --- the same faces as `detect` on the same decoded frames
mkdir "$tmp/frames"
ff -i "$tmp/lossless.mkv" "$tmp/frames/%03d.png"
check "video on the lossless clip" 0 v --json "$tmp/l.jsonl" "$tmp/lossless.mkv"
check "detect on its frames" 0 "$bin" detect -m "$m" -q --json "$tmp/d.json" "$tmp/frames"
expect "per-frame faces equal to detect's" "$py" - "$tmp/l.jsonl" "$tmp/d.json" <<'PY'
import json, sys
video = [json.loads(l) for l in open(sys.argv[1])]
images = json.load(open(sys.argv[2]))["images"]
assert len(video) == len(images) == 6, (len(video), len(images))
for v, d in zip(video, images):
    assert v["faces"] == d["faces"], (v["frame"], d["file"])
assert sum(len(v["faces"]) for v in video) >= 36
PY

check "video stretched to 256x256" 0 v --input-size 256x256 --json "$tmp/l2.jsonl" \
  "$tmp/lossless.mkv"
check "detect stretched to 256x256" 0 "$bin" detect -m "$m" -q --input-size 256x256 \
  --json "$tmp/d2.json" "$tmp/frames"
expect "stretched: per-frame faces equal to detect's" "$py" - "$tmp/l2.jsonl" "$tmp/d2.json" <<'PY'
import json, sys
video = [json.loads(l) for l in open(sys.argv[1])]
images = json.load(open(sys.argv[2]))["images"]
assert len(video) == len(images) == 6 and all(v["faces"] == d["faces"]
                                              for v, d in zip(video, images))
assert sum(len(v["faces"]) for v in video) >= 24
PY

# --- streams: frames in the network at once, written in order, the same faces as one stream
check "--streams 0" 2 "$bin" video -m "$m" --streams 0 "$tmp/clip.mp4"
check "--streams beyond --threads" 2 "$bin" video -m "$m" --threads 2 --streams 3 "$tmp/clip.mp4"
expect "says that --streams needs --threads" grep -q -- "--streams 3 needs at least" "$tmp/err"
check "one stream" 0 v --streams 1 --json "$tmp/s1.jsonl" "$tmp/clip.mp4"
check "three streams" 0 "$bin" video -m "$m" --threads 3 --json "$tmp/s3.jsonl" "$tmp/clip.mp4"
expect "the report: three streams by default on three threads" \
  grep -q "3 streams on 3 threads" "$tmp/err"
expect "three streams: the same JSON Lines, frames in order" cmp "$tmp/s1.jsonl" "$tmp/s3.jsonl"
check "three streams, every 2nd frame" 0 "$bin" video -m "$m" -q --threads 3 --every 2 \
  --json "$tmp/s3e.jsonl" "$tmp/clip.mp4"
expect "every 2nd frame: those of one stream" "$py" - "$tmp/s1.jsonl" "$tmp/s3e.jsonl" <<'PY'
import json, sys
one = [json.loads(l) for l in open(sys.argv[1])]
three = [json.loads(l) for l in open(sys.argv[2])]
assert [d["frame"] for d in three] == [0, 2, 4, 6, 8], [d["frame"] for d in three]
assert three == one[::2]
PY

# --- anonymization: inside the faces, changed beyond recognition; outside, not a pixel
raw "$tmp/lossless.mkv" "$tmp/orig.bgr"
for how in blur pixelate fill; do
  check "--anonymize $how" 0 v --anonymize "$how" --codec ffv1 -o "$tmp/an_$how.mkv" \
    --json "$tmp/an.jsonl" "$tmp/lossless.mkv"
  raw "$tmp/an_$how.mkv" "$tmp/an.bgr"
  expect "$how: faces hidden, nothing else changed" "$py" - "$how" "$tmp/orig.bgr" \
    "$tmp/an.bgr" "$tmp/an.jsonl" <<'PY'
import json, sys
import numpy as np
how, orig, anon, js = sys.argv[1:5]
w, h = 320, 240
a = np.fromfile(orig, np.uint8).reshape(-1, h, w, 3).astype(np.int32)
b = np.fromfile(anon, np.uint8).reshape(-1, h, w, 3).astype(np.int32)
frames = [json.loads(l) for l in open(js)]
assert a.shape == b.shape and len(frames) == a.shape[0] == 6, (a.shape, b.shape)
yy, xx = np.mgrid[0:h, 0:w]
for i, fr in enumerate(frames):
    covered = np.zeros((h, w), bool)
    for f in fr["faces"]:
        x1, y1, x2, y2 = f["box"]
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        # the ellipse of 1.5 times the box, one pixel more for the rounding of its edge
        rx, ry = abs(x2 - x1) * 0.75 + 1.5, abs(y2 - y1) * 0.75 + 1.5
        covered |= ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1
    changed = (a[i] != b[i]).any(axis=2)
    assert not (changed & ~covered).any(), (i, int((changed & ~covered).sum()))
    for f in fr["faces"]:
        x1, y1, x2, y2 = [int(round(c)) for c in f["box"]]
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        A, B = a[i, y1:y2, x1:x2], b[i, y1:y2, x1:x2]
        if how == "fill":
            assert (B == 0).all(), (i, f["box"])
        elif how == "pixelate":
            colours = len({tuple(p) for p in B.reshape(-1, 3)})
            assert colours <= 64, (i, f["box"], colours)
        else:  # blur: the fine detail of the face (difference from its neighbours) is gone
            def detail(X):
                X = X.astype(float)
                return np.abs(X[1:-1, 1:-1] - (X[:-2, 1:-1] + X[2:, 1:-1] + X[1:-1, :-2]
                                               + X[1:-1, 2:]) / 4).mean()
            assert detail(B) < 0.15 * detail(A), (i, f["box"], detail(B), detail(A))
PY
done

# --- crops, --every, --limit
check "crops every 3rd frame" 0 v --every 3 --crops "$tmp/crops" --json "$tmp/e.jsonl" \
  -o "$tmp/every.mkv" "$tmp/lossless.mkv"
expect "--every 3: frames 0 and 3 detected, all 6 written" "$py" - "$tmp/e.jsonl" <<'PY'
import json, sys
assert [json.loads(l)["frame"] for l in open(sys.argv[1])] == [0, 3]
PY
expect "every.mkv holds all 6 frames" test "$(frames "$tmp/every.mkv")" = 6
expect "one 112x112 crop per face, named by frame and face" "$py" - "$tmp/e.jsonl" \
  "$tmp/crops" <<'PY'
import json, os, struct, sys
want = set()
for l in open(sys.argv[1]):
    d = json.loads(l)
    want |= {"frame%06d_face%02d.png" % (d["frame"], k) for k in range(len(d["faces"]))}
have = set(os.listdir(sys.argv[2]))
assert have == want and len(want) >= 12, (sorted(have ^ want), len(want))
for n in have:
    head = open(os.path.join(sys.argv[2], n), "rb").read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (112, 112), n
PY
# The detector run on the chips finds each face with its landmarks near the ArcFace template
# (the transform itself is checked to fractions of a pixel by test_align; the detector's
# landmarks on 40-pixel faces, and on the chips, are good to a few pixels).
check "detect on the crops" 0 "$bin" detect -m "$m" -q --json "$tmp/cr.json" "$tmp/crops"
expect "each crop holds a face, landmarks near the template (mean 6 px, 12 per crop)" "$py" - \
  "$tmp/cr.json" <<'PY'
import json, math, sys
T = [(38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655),
     (70.7299, 92.2041)]
means = []
for im in json.load(open(sys.argv[1]))["images"]:
    assert im["faces"], im["file"]
    f = im["faces"][0]
    d = [math.hypot(p[0] - t[0], p[1] - t[1]) for p, t in zip(f["landmarks"], T)]
    assert sum(d) / 5 < 12 and max(d) < 20, (im["file"], d)
    means.append(sum(d) / 5)
print("crops: landmark distance to the template, mean %.2f px" % (sum(means) / len(means)))
assert sum(means) / len(means) < 6, sum(means) / len(means)
PY
check "--limit 4" 0 v --limit 4 --json "$tmp/lim.jsonl" -o "$tmp/lim.mp4" "$tmp/clip.mp4"
expect "--limit 4: 4 lines, 4 frames" test "$(wc -l <"$tmp/lim.jsonl")" = 4 -a \
  "$(frames "$tmp/lim.mp4")" = 4
check "detect --crops" 0 "$bin" detect -m "$m" -q --json "$tmp/p.json" --crops "$tmp/pc" "$photo"
expect "detect --crops: one chip per reported face" "$py" - "$tmp/p.json" "$tmp/pc" <<'PY'
import json, os, sys
n = len(json.load(open(sys.argv[1]))["images"][0]["faces"])
assert n >= 8 and sorted(os.listdir(sys.argv[2])) == \
    ["face1mb_ncnn_sample_face%02d.png" % k for k in range(n)], os.listdir(sys.argv[2])
PY

# --- damaged and foreign inputs
ff -i "$tmp/clip.mp4" -c copy "$tmp/clip.mkv"
# cut inside the 6th video packet
cut=$(ffprobe -v error -select_streams v:0 -show_entries packet=pos -of csv=p=0 "$tmp/clip.mkv" |
  sed -n 6p)
head -c $((cut + 20)) "$tmp/clip.mkv" >"$tmp/cut.mkv"
mkdir "$tmp/o1"
check "truncated mkv" 1 v --json "$tmp/o1/t.jsonl" -o "$tmp/o1/t.mp4" "$tmp/cut.mkv"
expect "says truncated and names it" grep -q "cut.mkv: truncated or damaged" "$tmp/err"
expect "truncated: JSON and video complete with the frames decoded" "$py" - "$tmp/o1" <<'PY'
import json, os, subprocess, sys
d = sys.argv[1]
assert sorted(os.listdir(d)) == ["t.jsonl", "t.mp4"], os.listdir(d)
n = len([json.loads(l) for l in open(os.path.join(d, "t.jsonl"))])
got = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                      "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
                      os.path.join(d, "t.mp4")], capture_output=True, check=True).stdout
assert 3 <= n <= 6 and int(got) == n, (n, got)
PY
size=$(stat -c %s "$tmp/clip.mp4")
head -c $((size * 6 / 10)) "$tmp/clip.mp4" >"$tmp/cut.mp4" # its index is at the end: gone
mkdir "$tmp/o2"
check "mp4 without its index" 1 v --json "$tmp/o2/t.jsonl" -o "$tmp/o2/t.mp4" "$tmp/cut.mp4"
expect "named, one line" test "$(wc -l <"$tmp/err")" = 1 -a -n "$(grep cut.mp4 "$tmp/err")"
printf 'this is not a video\n' >"$tmp/notes.txt"
cp "$tmp/notes.txt" "$tmp/notes.mp4"
for f in notes.txt notes.mp4 video9; do
  check "$f as video" 1 v --json "$tmp/o2/t.jsonl" -o "$tmp/o2/t.mp4" --crops "$tmp/o2/c" "$tmp/$f"
  expect "$f: one line naming it" test "$(wc -l <"$tmp/err")" = 1 -a -n "$(grep "$f" "$tmp/err")"
done
expect "no output written for inputs that are not videos" test -z "$(ls -A "$tmp/o2")"
check "output folder missing" 1 v -o "$tmp/no/dir/x.mp4" "$tmp/clip.mp4"
expect "the output is named" grep -q "no/dir/x.mp4" "$tmp/err"

# --- stand-ins for a camera: a FIFO of raw frames, an image sequence
mkfifo "$tmp/camera"
(ff -i "$tmp/lossless.mkv" -f rawvideo -pix_fmt bgr24 - >"$tmp/camera") &
feeder=$!
check "FIFO of raw BGR frames" 0 tv --input-format rawvideo --input-option video_size=320x240 \
  --input-option pixel_format=bgr24 --input-option framerate=25 --json "$tmp/f.jsonl" \
  "$tmp/camera"
kill "$feeder" 2>/dev/null # still there only if nothing opened the FIFO: never wait on it
wait "$feeder" 2>/dev/null
check "image sequence" 0 v --json "$tmp/s.jsonl" "$tmp/frames/%03d.png"
expect "FIFO and image sequence: the faces of the file, frame by frame" "$py" - \
  "$tmp/l.jsonl" "$tmp/f.jsonl" "$tmp/s.jsonl" <<'PY'
import json, sys
runs = [[json.loads(l) for l in open(p)] for p in sys.argv[1:4]]
assert all(len(r) == 6 for r in runs), [len(r) for r in runs]
for frames in zip(*runs):
    assert frames[0]["faces"] == frames[1]["faces"] == frames[2]["faces"], frames[0]["frame"]
    assert [f["time"] for f in frames] == [frames[0]["time"]] * 3
PY
# --- a URL: the test's local HTTP server (tests/download_server.py)
"$py" "$src/tests/download_server.py" "$tmp" "$tmp/port" "$tmp/http.log" 120 &
server=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port")
check "http:// URL" 0 tv --json "$tmp/h.jsonl" "http://127.0.0.1:$port/files/lossless.mkv"
expect "URL: the faces of the file" "$py" -c '
import json, sys
a, b = ([json.loads(l)["faces"] for l in open(p)] for p in sys.argv[1:3])
assert a == b and len(a) == 6' "$tmp/l.jsonl" "$tmp/h.jsonl"
check "URL answering HTTP 500" 1 tv "http://127.0.0.1:$port/error/clip.mp4"
expect "one line naming the URL" test "$(wc -l <"$tmp/err")" = 1 -a \
  -n "$(grep -F "127.0.0.1:$port/error/clip.mp4" "$tmp/err")"
kill "$server" 2>/dev/null
wait "$server" 2>/dev/null

check "unknown input option" 1 v --input-format rawvideo --input-option video_size=320x240 \
  --input-option frobnicate=1 "$tmp/clip.mp4"
expect "the option is named" grep -q "frobnicate" "$tmp/err"

# A live source: three frames, then silence. Ctrl-C completes the outputs; SIGKILL leaves no
# file under the output's name.
for sig in INT KILL; do
  rm -f "$tmp/live"
  mkfifo "$tmp/live"
  (ff -i "$tmp/lossless.mkv" -frames:v 3 -f rawvideo -pix_fmt bgr24 -; exec sleep 60) \
    >"$tmp/live" &
  feeder=$!
  "$bin" video -m "$m" -q --input-format rawvideo --input-option video_size=320x240 \
    --input-option pixel_format=bgr24 --json - -o "$tmp/live_$sig.mkv" "$tmp/live" \
    >"$tmp/live.jsonl" 2>"$tmp/err" &
  run=$!
  for _ in $(seq 600); do
    [ "$(wc -l <"$tmp/live.jsonl")" -ge 3 ] && break
    sleep 0.1
  done
  kill -"$sig" "$run"
  for _ in $(seq 600); do # a minute to finish, then it is killed (and the check fails)
    kill -0 "$run" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$run" 2>/dev/null
  wait "$run" 2>/dev/null
  status=$?
  kill "$feeder" 2>/dev/null
  wait "$feeder" 2>/dev/null
  if [ "$sig" = INT ]; then
    expect "SIGINT: exit 0 (got $status)" test "$status" -eq 0
    expect "SIGINT: the video is complete with its 3 frames" \
      test "$(frames "$tmp/live_INT.mkv")" = 3
  else
    expect "SIGKILL: killed (got $status)" test "$status" -eq 137
    expect "SIGKILL: nothing under the output's name" test ! -e "$tmp/live_KILL.mkv"
  fi
done
finish
