#!/usr/bin/env bash
# compare_peers.sh - ours vs ONNX Runtime on the same model, input and thread count, in one run.
# Usage: bash bench/compare_peers.sh [--precision LIST] [mnet|r50|both] [THREADS...]
#   --precision LIST  ours in each of these precisions (comma-separated: fp32,bf16,int8,int8-cal;
#                     default fp32), each against ONNX Runtime's float32 of the same round;
#                     int8-cal: int8 on the model converted with calibrated ranges (`retinaface
#                     convert --calibration $CALIBRATION --input-size 640x640`)
#   env: ROUNDS (3), RUNS (15), WARMUP (3), RETINAFACE_TESTDATA (../shared), BIN (build/retinaface),
#        CALIBRATION (the images int8-cal calibrates on; default ../shared/data/images)
# Installs the peer kit once (shared/peers/setup.sh: ONNX Runtime for node, PyTorch to export),
# alternates the programs ROUNDS times, and prints the median of each side's medians and the
# ratio ours / ORT, with ours' share of its precision's measured peak. Nothing else heavy
# should run meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
precisions=(fp32)
if [ "${1:-}" = --precision ]; then
  IFS=, read -r -a precisions <<<"${2:?--precision needs a list, e.g. fp32,bf16,int8}"
  shift 2
fi
which=${1:-both}
shift || true
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)
data=$(cd "${RETINAFACE_TESTDATA:-../shared}" && pwd)
peers=$data/peers
bin=${BIN:-build/retinaface}
rounds=${ROUNDS:-3} runs=${RUNS:-15} warmup=${WARMUP:-3}
py=/usr/bin/python3

[ -x "$bin" ] || { echo "compare_peers: $bin not built (cmake --build build)" >&2; exit 1; }
SMOKE=0 bash "$peers/setup.sh" >/dev/null
cache=${RETINAFACE_PEERS_CACHE:-/tmp/retinaface-peers}
ort="node $(cd "$peers" && pwd)/bench_ort.js"

field() { "$py" -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-14s %7s %9s %12s %12s %8s %9s\n' model threads precision "ours ms" "ORT ms" ratio "% peak"
for case in mnet r50; do
  [ "$which" = both ] || [ "$which" = "$case" ] || continue
  if [ $case = mnet ]; then g=$data/golden/mnet_640 m=$data/models/mobilenet0.25_Final.pth
  else g=$data/golden/r50_640 m=$data/models/resnet50_synthetic.pth; fi
  onnx=$(RETINAFACE_PEERS_CACHE=$cache "$py" "$peers/export_onnx.py" --golden "$g" | tail -1)
  if [[ " ${precisions[*]} " == *" int8-cal "* ]]; then
    mkdir -p "$cache"
    "$bin" convert "$m" "$cache/$case-calibrated.rfm" --input-size 640x640 \
      --calibration "${CALIBRATION:-$data/data/images}" >/dev/null 2>&1
  fi
  for t in "${threads[@]}"; do
    theirs=()
    declare -A ours=() peak=()
    for _ in $(seq "$rounds"); do
      theirs+=("$( (cd "$cache" && $ort --onnx "$onnx" --golden "$g" --threads "$t" \
                   --runs "$runs" --warmup "$warmup" --json) | field median_ms)")
      for p in "${precisions[@]}"; do
        mp=$m pp=$p
        [ "$p" = int8-cal ] && mp=$cache/$case-calibrated.rfm pp=int8
        j=$("$bin" bench -m "$mp" --image "$g/input.png" --input-size 640x640 --threads "$t" \
              --precision "$pp" --runs "$runs" --warmup "$warmup" --json -)
        ours[$p]+=" $(field median_ms <<<"$j")"
        peak[$p]+=" $(field peak_percent <<<"$j")"
      done
    done
    r=$(median "${theirs[@]}")
    for p in "${precisions[@]}"; do
      # shellcheck disable=SC2086 # the lists are words on purpose
      o=$(median ${ours[$p]}) pk=$(median ${peak[$p]})
      printf '%-14s %7s %9s %12.2f %12.2f %8.3f %9.1f\n' "$case 640x640" "$t" "$p" "$o" "$r" \
        "$(awk -v a="$o" -v b="$r" 'BEGIN {print a / b}')" "$pk"
    done
    unset ours peak
  done
done
