#!/usr/bin/env bash
# Profiles benchmark kernels with Nsight Compute on the GPU machine: speed of
# light, memory workload, occupancy, launch statistics, scheduler and warp
# stall reasons. Builds the benchmark binary first when it is missing.
# Appends each report to $OUT/ncu.txt. SASS=1 also appends each kernel's
# SASS with its executed instructions and stall samples per line to
# $OUT/sass.csv (where instruction counts, not guesses, show what a kernel
# spends its issue slots on).
#
# usage: scripts/gpu-profile.sh BENCHMARK_REGEX KERNEL_REGEX [BENCHMARK_REGEX KERNEL_REGEX ...]
# BIN: the benchmark binary to profile (default build/gpu/bench/dwconv_bench,
# built when missing; an A/B side's is under gpu-check.sh's AB_DIR).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
BIN=${BIN:-build/gpu/bench/dwconv_bench}
if [[ ! -x $BIN ]]; then
  cmake --preset gpu > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
  cmake --build --preset gpu -j "$(nproc)" --target dwconv_bench > "$OUT/build.log" 2>&1 ||
    { grep -E 'error|Error' "$OUT/build.log" | head -40; exit 1; }
fi
while [[ $# -ge 2 ]]; do
  {
    echo "==== $1 (kernel $2)"
    ncu --clock-control none --kernel-name "regex:$2" --launch-skip 3 --launch-count 1 \
      --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
      --section SchedulerStats --section WarpStateStats \
      $BIN --benchmark_filter="$1" --benchmark_min_time=0.01s 2>&1 |
      grep -vE '^==PROF==|^\s*$' | grep -vE '^-{5,}'
  } >> "$OUT/ncu.txt"
  if [[ ${SASS:-0} == 1 ]]; then
    echo "==== $1 (kernel $2)" >> "$OUT/sass.csv"
    ncu --clock-control none --kernel-name "regex:$2" --launch-skip 3 --launch-count 1 \
      --section SourceCounters --page source --print-source sass --csv \
      $BIN --benchmark_filter="$1" --benchmark_min_time=0.01s 2>/dev/null | grep -vE '^==PROF==' >> "$OUT/sass.csv"
  fi
  shift 2
done
