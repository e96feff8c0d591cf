// Backward benchmarks for one element type: backward_input (floor |dy| +
// |dx|) and backward_weight (floor |x| + |dy|; dw and dbias are a few
// bytes) on every benchmark case, as a percentage of the memory floor.
// Same timing as forward_bench_impl.cuh: CUDA events around batches,
// operands rotated through sets larger than L2, random values.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <dwconv/dwconv.cuh>
#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "bench_context.hpp"
#include "bench_timing.cuh"

namespace dwconv {
namespace bench {
namespace {

// PairedDy false: the strided dx with the polyphase kernel's 2-byte dy
// gathers, the baseline of its paired reads. Policy: the forward tiling of
// stride-1 dx.
template <class T, bool PairedDy = true, class Policy = DefaultPolicy>
void run_backward_input(benchmark::State& state, Problem p) {
  const double bytes = double(p.x_elements() + p.y_elements()) * sizeof(T);
  const int sets = rotation_sets(bytes);
  DeviceArena<T> arena;
  const std::vector<T*> dy = arena.alloc_sets(sets, p.y_elements(), 23u);
  const std::vector<T*> dx = arena.alloc_sets(sets, p.x_elements(), 0);
  T* w = arena.alloc(p.w_elements(), 5u);
  if (!arena.ok()) {
    state.SkipWithError("out of device memory");
    return;
  }
  int turn = 0;
  time_calls(state, bytes, [&]() -> bool {
    const int s = turn++ % sets;
    if constexpr (PairedDy) return backward_input<T, Policy>(p, dy[s], w, dx[s]).ok();
    return detail::launch_backward_input_strided<T, false>(p, dy[s], w, dx[s], nullptr).ok();
  });
}

// Times dw calls on operands rotated through sets larger than L2;
// call(x, dy, dw, dbias, workspace) runs one and says whether it succeeded.
template <class T, class Call>
void time_backward_weight(benchmark::State& state, const Problem& p, bool bias, Call&& call) {
  const double bytes = double(p.x_elements() + p.y_elements()) * sizeof(T);
  const int sets = rotation_sets(bytes);
  DeviceArena<T> arena;
  const std::vector<T*> x = arena.alloc_sets(sets, p.x_elements(), 29u);
  const std::vector<T*> dy = arena.alloc_sets(sets, p.y_elements(), 31u);
  T* dw = arena.alloc(p.w_elements(), 0);
  T* db = arena.alloc(p.c, 0);
  size_t ws_bytes = 0;
  if (!backward_weight_workspace_size<T>(p, &ws_bytes).ok()) {
    state.SkipWithError("workspace query failed");
    return;
  }
  void* ws = arena.alloc(int64_t((ws_bytes + sizeof(T) - 1) / sizeof(T)), 0);
  if (!arena.ok()) {
    state.SkipWithError("out of device memory");
    return;
  }
  int turn = 0;
  time_calls(state, bytes, [&]() -> bool {
    const int s = turn++ % sets;
    return call(x[s], dy[s], dw, bias ? db : nullptr, ws, &ws_bytes);
  });
  state.counters["workspace_KiB"] = double(ws_bytes) / 1024.0;
}

template <class T, WeightGradKernel Kernel = WeightGradKernel::kDefault>
void run_backward_weight(benchmark::State& state, Problem p, bool bias) {
  time_backward_weight<T>(state, p, bias, [&](const T* x, const T* dy, T* dw, T* db, void* ws, size_t* ws_bytes) {
    return backward_weight<T, Kernel>(p, x, dy, dw, db, ws, ws_bytes).ok();
  });
}

// The rolling dw kernel with an explicit tiling (U rows in flight, V lanes)
// at the case's K and layout, beside the table's choice.
template <class T, Layout L, int U, int V, int K, int Shift = 0>
void run_rolling_sweep(benchmark::State& state, Problem p, bool bias) {
  time_backward_weight<T>(state, p, bias, [&](const T* x, const T* dy, T* dw, T* db, void* ws, size_t*) {
    return detail::launch_weight_grad_rolling<T, L, 128, U, V, K, Shift>(p, x, dy, dw, db, ws, nullptr).ok();
  });
}

template <class T, int U, int V, int K, int Shift>
void register_fixed_shift(const std::string& name, const Problem& p, bool bias) {
  benchmark::RegisterBenchmark(
      (name + "/fixed_shift_U" + std::to_string(U) + "_V" + std::to_string(V)).c_str(),
      [p, bias](benchmark::State& s) { run_rolling_sweep<T, Layout::NCHW, U, V, K, Shift>(s, p, bias); })
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

// NCHW: one lane (every row's tiling where vectors cannot walk) at 8 and 16
// rows in flight.
template <class T, int K>
void register_rolling_sweep(const std::string& name, const Problem& p, bool bias) {
  auto add = [&](auto u_const, auto v_const) {
    constexpr int U = decltype(u_const)::value, V = decltype(v_const)::value;
    benchmark::RegisterBenchmark(
        (name + "/rolling_U" + std::to_string(U) + "_V" + std::to_string(V)).c_str(),
        [p, bias](benchmark::State& s) { run_rolling_sweep<T, Layout::NCHW, U, V, K>(s, p, bias); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  };
  using std::integral_constant;
  add(integral_constant<int, 8>{}, integral_constant<int, 1>{});
  add(integral_constant<int, 16>{}, integral_constant<int, 1>{});
  // Shifted vectors, 2 and 4 lanes, 4 and 8 rows in flight. Rows that
  // aligned vectors walk (the seed problem) are refused by the launcher and
  // reported as "launch failed".
  auto shifted = [&](auto u_const, auto v_const) {
    constexpr int U = decltype(u_const)::value, V = decltype(v_const)::value;
    if constexpr (K < 15 && V <= kVecElems16<T>) {
      benchmark::RegisterBenchmark((name + "/shifted_U" + std::to_string(U) + "_V" + std::to_string(V)).c_str(),
                                   [p, bias](benchmark::State& s) {
                                     run_rolling_sweep<T, Layout::NCHW, U, V, K, detail::kAnyShift>(s, p, bias);
                                   })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  };
  shifted(integral_constant<int, 4>{}, integral_constant<int, 2>{});
  shifted(integral_constant<int, 4>{}, integral_constant<int, 4>{});
  shifted(integral_constant<int, 8>{}, integral_constant<int, 2>{});
  // x at a fixed phase (the kernel's Shift) where the table takes it, the
  // widest lanes that fit, 4 and 8 rows in flight.
  constexpr int kMaxVec = detail::DefaultWeightGradPolicy<T, K, Layout::NCHW>::kRollingVec;
  const void* aligned = reinterpret_cast<const void*>(uintptr_t(1) << 20);
  const int vec = detail::rolling_weight_grad_fixed_shift_vec<T>(p, aligned, aligned, kMaxVec, true);
  const int shift = vec > 0 ? detail::fixed_x_shift<T>(p, aligned, aligned, vec) : -1;
  detail::dispatch_vec_shift<kMaxVec>(vec, shift, [&](auto v_const, auto s_const) {
    register_fixed_shift<T, 4, decltype(v_const)::value, K, decltype(s_const)::value>(name, p, bias);
    register_fixed_shift<T, 8, decltype(v_const)::value, K, decltype(s_const)::value>(name, p, bias);
  });
}

// The dw kernels the table chooses between, beside a case's default:
// 2-byte tensor cores where a tile takes the problem (the benchmark's
// tensors are 16-byte aligned) and, where the NHWC tile could take it, the
// rolling kernel.
template <class T>
void register_weight_alternatives(const std::string& name, const Problem& p, bool bias) {
  const void* aligned = reinterpret_cast<const void*>(uintptr_t(1) << 20);
  const bool nhwc_mma = detail::mma_nhwc_weight_grad_applies<T>(p, aligned, aligned);
  if (sizeof(T) == 2 && ((p.layout == Layout::NCHW && detail::mma_applies<T>(p)) || nhwc_mma))
    benchmark::RegisterBenchmark(
        (name + "/tensor_cores").c_str(),
        [p, bias](benchmark::State& s) { run_backward_weight<T, WeightGradKernel::kTensorCores>(s, p, bias); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  if (nhwc_mma)
    benchmark::RegisterBenchmark(
        (name + "/rolling").c_str(),
        [p, bias](benchmark::State& s) { run_backward_weight<T, WeightGradKernel::kRolling>(s, p, bias); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
}

template <class T>
void register_backward(const std::string& dtype) {
  for (const Probe& pr : kProbes)
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      const Problem p = to_problem(pr, layout);
      const bool bias = pr.base.bias;
      const std::string tail = dtype + "/" + to_string(layout) + "/" + probe_name(pr) + "/default";
      benchmark::RegisterBenchmark(("probe/backward_input/" + tail).c_str(),
                                   [p](benchmark::State& s) { run_backward_input<T>(s, p); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("probe/backward_weight/" + tail).c_str(),
                                   [p, bias](benchmark::State& s) { run_backward_weight<T>(s, p, bias); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
      if (pr.base.stride == 1)
        register_weight_alternatives<T>(
            "probe/backward_weight/" + dtype + "/" + to_string(layout) + "/" + probe_name(pr), p, bias);
    }
  for (const Case& c : kCases)
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      const Problem p = to_problem(c, layout);
      const std::string tail = dtype + "/" + to_string(layout) + "/" + case_name(c) + "/default";
      benchmark::RegisterBenchmark(("backward_input/" + tail).c_str(),
                                   [p](benchmark::State& s) { run_backward_input<T>(s, p); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
      if (detail::kPolyphasePairedDy<T, Layout::NCHW> && layout == Layout::NCHW && c.stride == 2)
        benchmark::RegisterBenchmark(
            ("backward_input/" + dtype + "/" + to_string(layout) + "/" + case_name(c) + "/gathered_dy").c_str(),
            [p](benchmark::State& s) { run_backward_input<T, false>(s, p); })
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      // Stride-1 dx in 2-byte NHWC without the tensor-core tile.
      if (sizeof(T) == 2 && layout == Layout::NHWC && c.stride == 1)
        benchmark::RegisterBenchmark(
            ("backward_input/" + dtype + "/" + to_string(layout) + "/" + case_name(c) + "/default_simt").c_str(),
            [p](benchmark::State& s) { run_backward_input<T, true, DefaultTable<false>>(s, p); })
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      const bool bias = c.bias;
      benchmark::RegisterBenchmark(("backward_weight/" + tail).c_str(),
                                   [p, bias](benchmark::State& s) { run_backward_weight<T>(s, p, bias); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
      // The staged and register tiles beside the rolling kernel that
      // replaced them at stride 1.
      if (c.stride == 1) {
        const std::string name = "backward_weight/" + dtype + "/" + to_string(layout) + "/" + case_name(c);
        benchmark::RegisterBenchmark(
            (name + "/staged").c_str(),
            [p, bias](benchmark::State& s) { run_backward_weight<T, WeightGradKernel::kStaged>(s, p, bias); })
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
        register_weight_alternatives<T>(name, p, bias);
        if (layout == Layout::NCHW) {
          if (c.k == 3) register_rolling_sweep<T, 3>(name, p, bias);
          if (c.k == 7) register_rolling_sweep<T, 7>(name, p, bias);
          if (c.k == 9) register_rolling_sweep<T, 9>(name, p, bias);
          if (c.k == 31) register_rolling_sweep<T, 31>(name, p, bias);
        }
      }
    }
}

}  // namespace
}  // namespace bench
}  // namespace dwconv
