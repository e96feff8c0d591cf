// Forward benchmarks: dwconv and the naive baseline on every case, dtype and
// layout, as a percentage of the memory floor measured in this binary.
//
// Each iteration times a batch of calls with CUDA events; inputs and outputs
// rotate through enough buffer sets to exceed L2, and hold random values.
#include <benchmark/benchmark.h>
#include <dwconv/dwconv.cuh>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "floor.cuh"
#include "naive_forward.cuh"

namespace dwconv {
namespace bench {
namespace {

double g_copy_bandwidth = 0;  // bytes/s, read + write
int g_l2_bytes = 0;

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

enum class Impl { kDwconv, kNaive };

template <class T>
void run(benchmark::State& state, Problem p, bool bias, Impl impl) {
  const double bytes = double(p.x_elements() + p.y_elements()) * sizeof(T);
  // Enough sets that a pass over them exceeds twice the L2.
  const int sets = int(std::min<double>(64, std::max<double>(2, 2.0 * g_l2_bytes / bytes + 1)));
  Buffers<T> buf(p, sets);
  if (!buf.ok) {
    state.SkipWithError("out of device memory");
    return;
  }
  const double floor_s = bytes / g_copy_bandwidth;
  // Batch calls so each timed region lasts >= ~200 us: event overhead stays small.
  const int batch = int(std::max(1.0, 200e-6 / floor_s));
  int turn = 0;
  auto call = [&]() -> bool {
    const int s = turn++ % sets;
    const T* bp = bias ? buf.b : nullptr;
    if (impl == Impl::kDwconv) return forward<T>(p, buf.x[s], buf.w, bp, buf.y[s]).ok();
    return naive_forward<T>(p, buf.x[s], buf.w, bp, buf.y[s], nullptr) == cudaSuccess;
  };
  for (int i = 0; i < 3; ++i) call();
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  double total_s = 0;
  int64_t calls = 0;
  bool ok = true;
  for (auto _ : state) {
    cudaEventRecord(start);
    for (int i = 0; i < batch; ++i) ok = call() && ok;
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms * 1e-3 / batch);
    total_s += ms * 1e-3;
    calls += batch;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (!ok || cudaDeviceSynchronize() != cudaSuccess) {
    state.SkipWithError("launch failed");
    return;
  }
  const double per_call = total_s / double(calls);
  state.counters["floor_pct"] = 100.0 * floor_s / per_call;
  state.counters["GBps"] = bytes / per_call / 1e9;
  state.counters["us"] = per_call * 1e6;
  state.counters["copy_GBps"] = g_copy_bandwidth / 1e9;
}

template <class T>
void register_all(const char* dtype) {
  for (const Case& c : kCases)
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      const Problem p = to_problem(c, layout);
      const std::string tail = std::string(dtype) + "/" + to_string(layout) + "/" + case_name(c);
      benchmark::RegisterBenchmark(("forward/" + tail + "/default").c_str(),
                                   [p, c](benchmark::State& s) { run<T>(s, p, c.bias, Impl::kDwconv); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("naive/" + tail).c_str(),
                                   [p, c](benchmark::State& s) { run<T>(s, p, c.bias, Impl::kNaive); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace
}  // namespace bench
}  // namespace dwconv

int main(int argc, char** argv) {
  using namespace dwconv::bench;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "forward_bench: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  g_l2_bytes = prop.l2CacheSize;
  g_copy_bandwidth = copy_bandwidth();
  if (g_copy_bandwidth <= 0) {
    std::fprintf(stderr, "forward_bench: copy bandwidth measurement failed\n");
    return 1;
  }
  benchmark::AddCustomContext("device", prop.name);
  benchmark::AddCustomContext("copy_bandwidth_GBps", std::to_string(g_copy_bandwidth / 1e9));
  register_all<float>("float");
  register_all<__half>("half");
  register_all<__nv_bfloat16>("bfloat16");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
