#!/usr/bin/env bash
# Profiles one benchmark's kernels with Nsight Compute on the GPU machine:
# speed of light, occupancy, launch statistics and warp stall reasons.
# Appends the report to $OUT/ncu.txt.
#
# usage: scripts/gpu-profile.sh BENCHMARK_NAME_REGEX KERNEL_NAME_REGEX
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
{
  echo "==== $1 (kernel $2)"
  ncu --clock-control none --kernel-name "regex:$2" --launch-skip 3 --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    build/gpu/bench/dwconv_bench --benchmark_filter="$1" --benchmark_min_time=0.01s 2>&1 |
    grep -vE '^==PROF==|^\s*$' | grep -vE '^-{5,}'
} >> "$OUT/ncu.txt"
