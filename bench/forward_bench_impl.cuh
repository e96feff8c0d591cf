// Forward benchmarks for one element type (DWCONV_BENCH_TYPE, one
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
#include "floor.cuh"
#include "naive_forward.cuh"

namespace dwconv {
namespace bench {
namespace {

template <class T>
__global__ void fill_random_kernel(T* p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    // Uniform in [-1, 1), never all zero.
    p[i] = NumericTraits<T>::from_accum(typename NumericTraits<T>::Accum(float(h >> 8) * (2.0f / 16777216.0f) - 1.0f));
  }
}

template <class T>
struct Buffers {
  std::vector<T*> x, y;
  T* w = nullptr;
  T* b = nullptr;
  bool ok = true;
  Buffers(const Problem& p, int sets) {
    auto alloc = [&](int64_t elems, uint32_t seed, bool fill) -> T* {
      T* ptr = nullptr;
      if (cudaMalloc(&ptr, size_t(elems) * sizeof(T)) != cudaSuccess) {
        ok = false;
        return nullptr;
      }
      if (fill) fill_random_kernel<T><<<1024, 256>>>(ptr, elems, seed);
      return ptr;
    };
    for (int s = 0; s < sets && ok; ++s) {
      x.push_back(alloc(p.x_elements(), 17u + s, true));
      y.push_back(alloc(p.y_elements(), 0, false));
    }
    w = alloc(p.w_elements(), 5u, true);
    b = alloc(p.c, 7u, true);
    ok = ok && cudaDeviceSynchronize() == cudaSuccess;
  }
  ~Buffers() {
    for (T* p : x) cudaFree(p);
    for (T* p : y) cudaFree(p);
    cudaFree(w);
    cudaFree(b);
  }
};

// kGraph: dwconv calls captured in a CUDA graph, which measures the GPU side
// without the host's launch cost (how PyTorch's CUDA graphs would run it).
enum class Impl { kDwconv, kNaive, kGraph };

struct NoPolicy {};

template <class T, class Policy>
void run(benchmark::State& state, Problem p, bool bias, Impl impl) {
  const double bytes = double(p.x_elements() + p.y_elements()) * sizeof(T);
  // Enough sets that a pass over them exceeds twice the L2.
  const int sets = int(std::min<double>(64, std::max<double>(2, 2.0 * context().l2_bytes / bytes + 1)));
  Buffers<T> buf(p, sets);
  if (!buf.ok) {
    state.SkipWithError("out of device memory");
    return;
  }
  const double floor_s = bytes / context().copy_bandwidth;
  // Batch calls so each timed region lasts >= ~200 us: event overhead stays small.
  const int batch = int(std::max(1.0, 200e-6 / floor_s));
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
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  double total_s = 0;
  int64_t calls = 0;
  bool ok = true;
  for (auto _ : state) {
    cudaEventRecord(start, stream);
    if (graph)
      ok = cudaGraphLaunch(graph, stream) == cudaSuccess && ok;
    else
      for (int i = 0; i < batch; ++i) ok = call() && ok;
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms * 1e-3);  // the batch; counters below are per call
    total_s += ms * 1e-3;
    calls += batch;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (graph) cudaGraphExecDestroy(graph);
  if (stream) cudaStreamDestroy(stream);
  if (!ok || cudaDeviceSynchronize() != cudaSuccess) {
    state.SkipWithError("launch failed");
    return;
  }
  const double per_call = total_s / double(calls);
  state.counters["floor_pct"] = 100.0 * floor_s / per_call;
  state.counters["GBps"] = bytes / per_call / 1e9;
  state.counters["us"] = per_call * 1e6;
  state.counters["copy_GBps"] = context().copy_bandwidth / 1e9;
}

template <class Policy>
std::string policy_name() {
  if constexpr (std::is_same_v<Policy, DefaultPolicy>)
    return "default";
  else
    return "T" + std::to_string(Policy::kThreads) + "_R" + std::to_string(Policy::kRowsPerThread) + "_V" +
           std::to_string(Policy::kVecElems) + (Policy::kStagedNchw ? "" : "_unstaged");
}

template <class T, class Policy>
void register_policy(const std::string& dtype, bool with_baselines) {
  for (const Case& c : kCases)
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
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
  using Default = typename detail::DefaultTilePolicy<T, 3, Layout::NCHW>::type;
  register_policy<T, TilePolicy<128, Default::kRowsPerThread, kV, false>>(dtype, false);
  register_policy<T, TilePolicy<128, 8, kV>>(dtype, false);
  register_policy<T, TilePolicy<128, 32, kV / 2>>(dtype, false);
}

}  // namespace
}  // namespace bench
}  // namespace dwconv
