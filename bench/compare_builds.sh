#!/usr/bin/env bash
# compare_builds.sh - two builds of retinaface on the same model, input and thread count, in one
# run: the check that a change kept the speed. Alternates the two ROUNDS times and prints the
# median of each side's medians and the ratio new / old.
# Usage: bash bench/compare_builds.sh OLD_BINARY NEW_BINARY [mnet|r50|both] [THREADS...]
#   env: ROUNDS (5), RUNS (10), WARMUP (3), RETINAFACE_TESTDATA (../shared), PRECISION (passed
#        to both as --precision when set)
# Nothing else heavy should run meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2
which=${3:-both}
shift 3 || shift $#
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)
data=$(cd "${RETINAFACE_TESTDATA:-../shared}" && pwd)
rounds=${ROUNDS:-5} runs=${RUNS:-10} warmup=${WARMUP:-3}
py=/usr/bin/python3
for b in "$old" "$new"; do [ -x "$b" ] || { echo "compare_builds: $b is not a program" >&2; exit 1; }; done

field() { "$py" -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
time_one() { # BINARY MODEL IMAGE THREADS
  "$1" bench -m "$2" --image "$3" --input-size 640x640 --threads "$4" --runs "$runs" \
    --warmup "$warmup" ${PRECISION:+--precision "$PRECISION"} --json - | field median_ms
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-14s %7s %12s %12s %8s\n' model threads "old ms" "new ms" "new/old"
for case in mnet r50; do
  [ "$which" = both ] || [ "$which" = "$case" ] || continue
  if [ $case = mnet ]; then g=$data/golden/mnet_640 m=$data/models/mobilenet0.25_Final.pth
  else g=$data/golden/r50_640 m=$data/models/resnet50_synthetic.pth; fi
  for t in "${threads[@]}"; do
    a=() b=()
    for _ in $(seq "$rounds"); do
      a+=("$(time_one "$old" "$m" "$g/input.png" "$t")")
      b+=("$(time_one "$new" "$m" "$g/input.png" "$t")")
    done
    o=$(median "${a[@]}") n=$(median "${b[@]}")
    printf '%-14s %7s %12.2f %12.2f %8.3f\n' "$case 640x640" "$t" "$o" "$n" \
      "$(awk -v a="$n" -v b="$o" 'BEGIN {print a / b}')"
  done
done
