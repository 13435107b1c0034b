#!/usr/bin/env bash
# bench_video.sh - `retinaface video` frame rate against `retinaface bench` (the network alone) on
# the same model, threads and 640x480 input, alternating the two and taking medians.
#   bench/bench_video.sh [MODEL.pth] [ROUNDS] [FRAMES] [THREADS] [path/to/retinaface]
# Defaults: ../shared/models/mobilenet0.25_Final.pth, 5 rounds, 300 frames, 2 threads,
# build/retinaface; STREAMS=N passes --streams N to `video` (default: its own, one stream per
# thread up to 4). The clip is the ncnn sample photo of ../shared panned over 640x480 at 25
# frames a second, H.264 (ffmpeg CLI). Each round runs:
#   bench:  retinaface bench --input-size 640x480 --runs FRAMES    (FPS = 1000 / median ms)
#   json:   retinaface video --json FILE                           (decode, detect, JSON Lines)
#   drawn:  retinaface video --json FILE -o drawn.mp4              (+ drawing, H.264 encoding)
#   blur:   retinaface video -o blurred.mp4 --anonymize blur       (+ blurring, H.264 encoding)
# and the ratios are video FPS / bench FPS of the same round. The CPU columns are `video`'s own
# account (medians): milliseconds of CPU per frame of the detector's threads, of the reading
# thread and of the writing thread. Where the machine has no cores beyond the detector's
# threads, reader + writer CPU is what keeps the ratio below 1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODEL=${1:-$ROOT/../shared/models/mobilenet0.25_Final.pth}
ROUNDS=${2:-5}
FRAMES=${3:-300}
THREADS=${4:-2}
STREAMS=${STREAMS:-}
BIN=${5:-$ROOT/build/retinaface}
PHOTO=$ROOT/../shared/data/images/face1mb_ncnn_sample.jpg
WORK=$(mktemp -d /tmp/rf_bench_video.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

secs=$(awk -v n="$FRAMES" 'BEGIN {print n / 25}')
ffmpeg -nostdin -v error -y -loop 1 -i "$PHOTO" \
  -vf "crop=800:600:'100+80*sin(t)':'84+60*cos(t)',scale=640:480,format=yuv420p" \
  -t "$secs" -r 25 -c:v libx264 -preset veryfast "$WORK/clip.mp4"

bench_fps() {
  "$BIN" bench -m "$MODEL" --input-size 640x480 --threads "$THREADS" --runs "$FRAMES" \
    --warmup 10 --json - | sed -n 's/.*"median_ms": \([0-9.]*\).*/\1/p' |
    awk '{printf "%.2f\n", 1000 / $1}'
}
video_fps() { # prints the FPS; appends "detector reader writer" CPU ms to $WORK/cpu_$1
  local tag=$1
  shift
  "$BIN" video -m "$MODEL" --threads "$THREADS" ${STREAMS:+--streams "$STREAMS"} "$@" \
    "$WORK/clip.mp4" 2>"$WORK/report" >/dev/null
  local cpu='s/.*CPU ms .*detector \([0-9.]*\).*reader \([0-9.]*\), writer \([0-9.]*\)/\1 \2 \3/p'
  sed -n "$cpu" "$WORK/report" >>"$WORK/cpu_$tag"
  sed -n 's/.*throughput \([0-9.]*\) FPS.*/\1/p' "$WORK/report"
}
median() {
  sort -n | awk '{v[NR] = $1}
                 END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

for r in $(seq "$ROUNDS"); do
  b=$(bench_fps)
  j=$(video_fps j --json "$WORK/f.jsonl")
  d=$(video_fps d --json "$WORK/f.jsonl" -o "$WORK/drawn.mp4")
  a=$(video_fps a -o "$WORK/blurred.mp4" --anonymize blur)
  echo "$b" >>"$WORK/bench"
  for k in j d a; do
    echo "${!k}" >>"$WORK/$k"
    awk -v v="${!k}" -v b="$b" 'BEGIN {printf "%.3f\n", v / b}' >>"$WORK/r$k"
  done
  printf "round %d: bench %s FPS, video json %s, drawn %s, blur %s (load %s)\n" "$r" "$b" "$j" \
    "$d" "$a" "$(cut -d' ' -f1 /proc/loadavg)"
done
fmt="\n%s, %d threads, streams %s, 640x480, %d frames, medians of %d rounds (%s, %d CPUs, %s)\n"
printf "$fmt" \
  "$(basename "$MODEL")" "$THREADS" "${STREAMS:-default}" "$FRAMES" "$ROUNDS" \
  "$(date '+%Y-%m-%d %H:%M')" "$(nproc)" "load $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-30s %7s %6s   %s\n" "run" "FPS" "ratio" "CPU ms/frame: detector reader writer"
printf "%-30s %7.2f %6s\n" "bench (network only)" "$(median <"$WORK/bench")" "1"
declare -A names=([j]="video --json" [d]="video --json -o drawn.mp4"
                  [a]="video -o --anonymize blur")
for k in j d a; do
  cpu=""
  for c in 1 2 3; do cpu="$cpu $(cut -d' ' -f$c "$WORK/cpu_$k" | median)"; done
  printf "%-30s %7.2f %6.3f  %s\n" "${names[$k]}" "$(median <"$WORK/$k")" \
    "$(median <"$WORK/r$k")" "$cpu"
done
