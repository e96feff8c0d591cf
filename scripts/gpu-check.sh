#!/usr/bin/env bash
# The GPU machine's one-call check: configure, build, the whole ctest suite,
# compute-sanitizer (memcheck, racecheck, initcheck, synccheck), the
# benchmark and the PyTorch comparison. Logs and JSON go to $OUT; a short
# table is printed last.
#
# usage: scripts/gpu-check.sh [steps]   steps: any of test,sanitize,bench,compare,ab (default: all but ab)
# Steps run in the order test, bench, compare, sanitize, so that a call cut
# short by the device's time limit still returns the most wanted results;
# the summary says how long each took.
# BENCH_FILTER: a --benchmark_filter regex; by default every benchmark but
# the explicit-tiling sweeps (forward /T<threads>_R<rows>, dw /rolling_U...,
# /shifted_U..., /fixed_shift_U...)
# and the probes (probe/...), which BENCH_FILTER=. brings back.
# SANITIZE_FILTER: the sanitizers' --gtest_filter (default: every test but
# the >2^31-element ones), e.g. the kernels a change touched, so that a
# whole-suite call has room for them.
# For a quicker call on backward work: TEST_REGEX (ctest -R, and only the
# test binaries it names are built, e.g. 'backward') and BENCH_FORWARD=0
# (the benchmark without its forward units); BENCH_TYPES (e.g. 'float' or
# 'half;bfloat16': the benchmark's element types, all three by default).
# ab: the benchmark (BENCH_FILTER) built from this tree and from the
# baseline headers in ab/include (`rm -rf ab && mkdir ab && git archive main
# include | tar -x -C ab`; ab/ is ignored, so pass it in the device call's
# carry), and from any variant headers in ab/<name>/include, run in rotating
# order AB_ROUNDS times (default 3), so that all see the same card and
# clocks: run-to-run spread between calls is 2-3 points, larger than most
# single changes. ab.json holds every side; the table gives the median of
# the rounds' medians and each side's difference from the baseline.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
STEPS=${1:-test,sanitize,bench,compare}
AB_DIR=${AB_DIR:-/tmp/dwconv-ab-base}
has() { [[ ",$STEPS," == *",$1,"* ]]; }
export PATH=/usr/local/cuda/bin:$PATH
status=0
summary=()

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"

# Seconds since the last mark, for the summary: device time is the scarce
# resource, so each call reports where its time went.
mark=$SECONDS
took() { summary+=("$1: $((SECONDS - mark)) s"); mark=$SECONDS; }

# Only what the steps need: the whole tree for test and sanitize, else just
# the benchmark and / or the C ABI.
TEST_REGEX=${TEST_REGEX:-}
targets=()
if [[ -n "$TEST_REGEX" ]] || { ! has test && ! has sanitize; }; then
  { has bench || has ab; } && targets+=(--target dwconv_bench)
  has compare && targets+=(--target dwconv_capi)
fi
if [[ -n "$TEST_REGEX" ]]; then
  for t in tests/*.cu tests/*.cpp; do
    b=$(basename "${t%.*}")
    names=("$b")
    [[ "$b" == *_gpu_test || "$b" == *_args_test ]] && names=("${b}_float" "${b}_double" "${b}_half" "${b}_bfloat16")
    for n in "${names[@]}"; do [[ "$n" =~ $TEST_REGEX ]] && targets+=(--target "$n"); done
  done
fi
bench_forward="$([[ ${BENCH_FORWARD:-1} == 0 ]] && echo OFF || echo ON)"
bench_types=${BENCH_TYPES:-float;half;bfloat16}
ab_sides=()
ab_builds=()
if has ab; then
  [[ -d ab/include ]] || { echo "ab: no baseline headers in ab/include"; exit 1; }
  ab_sides=(base)
  for d in ab/*/include; do [[ -d "$d" ]] && ab_sides+=("$(basename "$(dirname "$d")")"); done
  # Each side is this tree with its headers for include/, built beside it.
  for side in "${ab_sides[@]}"; do
    src=ab/include
    [[ $side != base ]] && src=ab/$side/include
    dir=$AB_DIR/$side
    rm -rf "$dir" && mkdir -p "$dir"
    tar --exclude=./.git --exclude=./build --exclude=./ab --exclude=./include -cf - . | tar -xf - -C "$dir"
    cp -a "$src" "$dir/include"
    (cd "$dir" && cmake --preset gpu -DDWCONV_BENCH_FORWARD="$bench_forward" -DDWCONV_BENCH_TYPES="$bench_types" > /dev/null &&
      cmake --build --preset gpu -j "$(nproc)" --target dwconv_bench) > "$OUT/ab-build-$side.log" 2>&1 &
    ab_builds+=($!)
  done
fi
cmake --preset gpu -DDWCONV_BENCH_FORWARD="$bench_forward" -DDWCONV_BENCH_TYPES="$bench_types" \
  > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build --preset gpu -j "$(nproc)" "${targets[@]}" > "$OUT/build.log" 2>&1 ||
  { grep -E 'error|Error' "$OUT/build.log" | head -40; exit 1; }
for i in "${!ab_builds[@]}"; do
  log=$OUT/ab-build-${ab_sides[$i]}.log
  wait "${ab_builds[$i]}" || { echo "ab: ${ab_sides[$i]}'s build failed"; grep -E 'error|Error' "$log" | head -40; exit 1; }
  rm -f "$log"
done
took build
B=build/gpu

if has test; then
  # The >2^31-element tests need most of the card: run them one at a time.
  only=()
  [[ -n "$TEST_REGEX" ]] && only=(-R "$TEST_REGEX")
  ctest --test-dir $B -j 8 "${only[@]}" -E OffsetsBeyondInt32 --output-on-failure > "$OUT/ctest.log" 2>&1; rc1=$?
  rc2=0
  [[ -z "$TEST_REGEX" ]] && { ctest --test-dir $B -R OffsetsBeyondInt32 --output-on-failure >> "$OUT/ctest.log" 2>&1; rc2=$?; }
  grep -h '^\[ seed \]' $B/Testing/Temporary/LastTest.log >> "$OUT/ctest.log" 2>/dev/null
  summary+=("ctest: $(grep -E 'tests passed|tests failed' "$OUT/ctest.log" | tr '\n' ' ')")
  [[ $rc1 -ne 0 || $rc2 -ne 0 ]] && status=1 && grep -E 'Failed|\*\*\*' "$OUT/ctest.log" | head -20
  took test
fi

run_bench() { # binary json
  "$1" --benchmark_out="$2" --benchmark_out_format=json \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_min_time=0.05s \
    --benchmark_filter="${BENCH_FILTER:--(/(T[0-9]+_R|(rolling|shifted|fixed_shift)_U)|probe/)}" >> "$OUT/bench.log" 2>&1
}

if has bench; then
  run_bench $B/bench/dwconv_bench "$OUT/bench.json" || status=1
  took bench
fi

if has ab; then
  ab_runs=()
  all=(cur "${ab_sides[@]}")
  for ((r = 0; r < ${AB_ROUNDS:-3}; r++)); do
    # Rotate which goes first, so that none always follows another.
    for ((i = 0; i < ${#all[@]}; i++)); do
      side=${all[$(((i + r) % ${#all[@]}))]}
      bin=$B/bench/dwconv_bench
      [[ $side != cur ]] && bin=$AB_DIR/$side/build/gpu/bench/dwconv_bench
      run_bench "$bin" "$OUT/ab_${side}_$r.json" || status=1
      ab_runs+=("$side=$OUT/ab_${side}_$r.json")
    done
  done
  python3 scripts/bench_ab.py --out "$OUT/ab.json" "${ab_runs[@]}" > "$OUT/ab.txt" || status=1
  rm -f "$OUT"/ab_*_*.json
  summary+=("ab: ${AB_ROUNDS:-3} rounds of ${all[*]}")
  took ab
fi

if has compare; then
  PYTHONUNBUFFERED=1 python3 bench/compare_torch.py $B/bench/libdwconv_capi.so --json "$OUT/compare.json" \
    > "$OUT/compare.txt" 2>&1 || status=1
  took compare
fi

if has sanitize; then
  pids=()
  for tool in memcheck racecheck initcheck synccheck; do
    (
      for suite in forward backward; do for t in float half; do
        # Bounded, so that one slow tool cannot take the whole call: rc=124 is a timeout.
        DWCONV_TEST_CASES=40 timeout "${SANITIZER_TIMEOUT:-300}" compute-sanitizer --tool $tool --error-exitcode 9 \
          $B/tests/${suite}_gpu_test_$t --gtest_filter="${SANITIZE_FILTER:--*OffsetsBeyondInt32}" > "$OUT/san_${tool}_${suite}_$t.log" 2>&1
        echo "$tool $suite $t rc=$?"
      done; done
    ) > "$OUT/san_$tool.rc" &
    pids+=($!)
  done
  wait "${pids[@]}"
  cat "$OUT"/san_*.rc > "$OUT/sanitizers.txt"
  for f in "$OUT"/san_*_*.log; do
    # racecheck closes with a hazard count ("RACECHECK SUMMARY"), the others with "ERROR SUMMARY".
    tail -5 "$f" | grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' | sed "s|^|$(basename "$f" .log): |" >> "$OUT/sanitizers.txt"
  done
  rm -f "$OUT"/san_*.rc
  # One file back (the device tool returns at most 8): the summaries, and the
  # head of each log when something failed.
  if grep -q 'rc=[1-9]' "$OUT/sanitizers.txt"; then
    status=1
    for f in "$OUT"/san_*_*.log; do { echo "==== $(basename "$f")"; head -60 "$f"; } >> "$OUT/sanitizers.txt"; done
  fi
  rm -f "$OUT"/san_*_*.log
  summary+=("sanitizers: $(grep -c 'rc=0' "$OUT/sanitizers.txt") of 16 clean")
  took sanitize
fi

echo "==== summary ===="
for s in "${summary[@]}"; do echo "$s"; done
[[ -f "$OUT/sanitizers.txt" ]] && cat "$OUT/sanitizers.txt"
if [[ -f "$OUT/bench.json" ]]; then
  python3 scripts/bench_table.py "$OUT/bench.json"
  python3 scripts/bench_standing.py "$OUT/bench.json"
fi
[[ -f "$OUT/compare.txt" ]] && tail -60 "$OUT/compare.txt"
[[ -f "$OUT/ab.txt" ]] && cat "$OUT/ab.txt"
exit $status
