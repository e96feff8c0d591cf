// Forward benchmarks for one element type (bench_forward_<type>.cu, one
// translation unit per type so they compile in parallel): dwconv with its
// default policy and a few explicit ones, the naive baseline, and graph-
// captured dwconv for small cases, as a percentage of the memory floor.
//
// Each iteration times a batch of calls with CUDA events; inputs and outputs
// rotate through enough buffer sets to exceed L2, and hold random values.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <dwconv/dwconv.cuh>
#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "bench_context.hpp"
#include "bench_timing.cuh"
#include "floor.cuh"
#include "naive_forward.cuh"

namespace dwconv {
namespace bench {
namespace {

template <class T>
struct Buffers {
  DeviceArena<T> arena;
  std::vector<T*> x, y;
  T* w = nullptr;
  T* b = nullptr;
  bool ok = true;
  Buffers(const Problem& p, int sets) {
    x = arena.alloc_sets(sets, p.x_elements(), 17u);
    y = arena.alloc_sets(sets, p.y_elements(), 0);
    w = arena.alloc(p.w_elements(), 5u);
    b = arena.alloc(p.c, 7u);
    ok = arena.ok();
  }
};

// kGraph: dwconv calls captured in a CUDA graph, which measures the GPU side
// without the host's launch cost (how PyTorch's CUDA graphs would run it).
enum class Impl { kDwconv, kNaive, kGraph };

template <class T, class Policy>
void run(benchmark::State& state, Problem p, bool bias, Impl impl) {
  const double bytes = double(p.x_elements() + p.y_elements()) * sizeof(T);
  const int sets = rotation_sets(bytes);
  Buffers<T> buf(p, sets);
  if (!buf.ok) {
    state.SkipWithError("out of device memory");
    return;
  }
  const double floor_s = bytes / context().copy_bandwidth;
  const int batch = batch_calls(floor_s);
  int turn = 0;
  auto call = [&]() -> bool {
    const int s = turn++ % sets;
    const T* bp = bias ? buf.b : nullptr;
    if (impl == Impl::kDwconv) return forward<T, Policy>(p, buf.x[s], buf.w, bp, buf.y[s]).ok();
    return naive_forward<T>(p, buf.x[s], buf.w, bp, buf.y[s], nullptr) == cudaSuccess;
  };
  for (int i = 0; i < 3; ++i) call();
  cudaStream_t stream = nullptr;
  cudaGraphExec_t graph = nullptr;
  if (impl == Impl::kGraph) {
    cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    cudaGraph_t g;
    cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
    for (int i = 0; i < batch; ++i) {
      const int s = i % sets;
      (void)forward<T, Policy>(p, buf.x[s], buf.w, bias ? buf.b : nullptr, buf.y[s], stream);
    }
    if (cudaStreamEndCapture(stream, &g) != cudaSuccess || cudaGraphInstantiate(&graph, g, 0) != cudaSuccess) {
      state.SkipWithError("graph capture failed");
      return;
    }
    cudaGraphDestroy(g);
    cudaGraphLaunch(graph, stream);
  }
  const bool ok = time_batches(state, bytes, floor_s, batch, call, graph, stream);
  if (graph) cudaGraphExecDestroy(graph);
  if (stream) cudaStreamDestroy(stream);
  if (!ok) state.SkipWithError("launch failed");
}

template <class Policy>
std::string policy_name() {
  if constexpr (std::is_same_v<Policy, DefaultPolicy>)
    return "default";
  else if constexpr (std::is_same_v<Policy, DefaultTable<false>>)
    return "default_simt";
  else
    return "T" + std::to_string(Policy::kThreads) + "_R" + std::to_string(Policy::kRowsPerThread) + "_V" +
           std::to_string(Policy::kVecElems) +
           (!Policy::kStagedNchw            ? std::string("_unstaged")
            : Policy::kTensorCoreWarps == 0 ? std::string("_simt")
                                            : "_tc" + std::to_string(Policy::kTensorCoreWarps)) +
           (Policy::kRollingVecElems > 0 ? "_roll" + std::to_string(Policy::kRollingVecElems) : std::string()) +
           (Policy::kNhwcTensorChannels > 0 ? "_ntc" + std::to_string(Policy::kNhwcTensorChannels) : std::string());
}

// Which layouts a policy's benchmarks run.
enum class Layouts { kBoth, kNchw, kNhwc };

template <class T, class Policy>
void register_policy(const std::string& dtype, bool with_baselines, Layouts layouts = Layouts::kBoth) {
  for (const Case& c : kCases)
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      if ((layouts == Layouts::kNchw && layout != Layout::NCHW) ||
          (layouts == Layouts::kNhwc && layout != Layout::NHWC))
        continue;
      const Problem p = to_problem(c, layout);
      const std::string tail = dtype + "/" + to_string(layout) + "/" + case_name(c);
      auto add = [&](const std::string& name, Impl impl) {
        benchmark::RegisterBenchmark(name.c_str(),
                                     [p, c, impl](benchmark::State& s) { run<T, Policy>(s, p, c.bias, impl); })
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      };
      add("forward/" + tail + "/" + policy_name<Policy>(), Impl::kDwconv);
      if (!with_baselines) continue;
      if (p.y_elements() < (1 << 21)) add("forward_graph/" + tail + "/" + policy_name<Policy>(), Impl::kGraph);
      add("naive/" + tail, Impl::kNaive);
    }
}

/// The default table, the baselines, and explicit policies to compare the
/// table against.
template <class T>
void register_type(const std::string& dtype) {
  constexpr int kV = kVecElems16<T>;
  register_policy<T, DefaultPolicy>(dtype, true);
  for (const Probe& pr : kProbes)
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      const Problem p = to_problem(pr, layout);
      const bool bias = pr.base.bias;
      benchmark::RegisterBenchmark(
          ("probe/forward/" + dtype + "/" + to_string(layout) + "/" + probe_name(pr) + "/default").c_str(),
          [p, bias](benchmark::State& s) { run<T, DefaultPolicy>(s, p, bias, Impl::kDwconv); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  // The table without tensor cores, where it has them (2-byte types), and
  // sweeps (their names match /T<threads>_R): the NCHW tiles at every K with
  // 4 warps a tile, and the NHWC tile at every K with 4 and 8 channels a
  // warp.
  if constexpr (sizeof(T) == 2) {
    register_policy<T, DefaultTable<false>>(dtype, false);
    register_policy<T, TilePolicy<128, 16, kV, true, 4>>(dtype, false, Layouts::kNchw);
    register_policy<T, TilePolicy<128, 8, kV, true, 8, 0, 4>>(dtype, false, Layouts::kNhwc);
    register_policy<T, TilePolicy<128, 8, kV, true, 8, 0, 8>>(dtype, false, Layouts::kNhwc);
  }
  // Register windows of 8 to 32 rows at the full and the half vector (in
  // NHWC, where every case runs them; the 16-row full-vector one also takes
  // 2-byte NCHW tiles onto tensor cores with 8 warps). 32 rows at the full
  // vector doubled the benchmark's build time (K = 31 windows of 8 lanes).
  register_policy<T, TilePolicy<128, 8, kV>>(dtype, false);
  register_policy<T, TilePolicy<128, 16, kV>>(dtype, false);
  register_policy<T, TilePolicy<128, 16, kV / 2>>(dtype, false);
  register_policy<T, TilePolicy<128, 32, kV / 2>>(dtype, false);
}

}  // namespace
}  // namespace bench
}  // namespace dwconv
