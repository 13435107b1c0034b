#!/usr/bin/env bash
# bench_load.sh - model load time, .pth against the native file made from it (median of N alternating runs, warm page cache).
#   bench/bench_load.sh [MODEL.pth] [RUNS] [path/to/retinaface]
# Defaults: ../shared/models/resnet50_synthetic.pth, 7 runs, build/retinaface. The time is
# `retinaface bench`'s load_ms: rf_model_load plus context creation, as a program sees it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PTH=${1:-$ROOT/../shared/models/resnet50_synthetic.pth}
RUNS=${2:-7}
BIN=${3:-$ROOT/build/retinaface}
WORK=$(mktemp -d /tmp/rf_bench_load.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$BIN" convert "$PTH" "$WORK/model.rfn" >/dev/null
"$BIN" convert "$PTH" "$WORK/model_f16.rfn" --storage f16 >/dev/null
load_ms() { "$BIN" bench -m "$1" --input-size 32x32 --runs 1 --warmup 0 --json - |
            sed -n 's/.*"load_ms": \([0-9.]*\).*/\1/p'; }
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
files=("$PTH" "$WORK/model.rfn" "$WORK/model_f16.rfn")
for f in "${files[@]}"; do load_ms "$f" >/dev/null; done # warm the page cache
for _ in $(seq "$RUNS"); do
  for i in "${!files[@]}"; do load_ms "${files[$i]}" >>"$WORK/t$i"; done
done
printf "%-28s %10s  (median of %d, load average %s)\n" "model file" "load ms" "$RUNS" "$(cut -d' ' -f1 /proc/loadavg)"
names=("$(basename "$PTH")" "native f32" "native f16")
for i in "${!files[@]}"; do
  printf "%-28s %10.1f\n" "${names[$i]}" "$(median <"$WORK/t$i")"
done
