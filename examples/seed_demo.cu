// The seed problem: x of 64 x 8 x 512 x 512 floats, K = 3, no padding. Runs
// dwconv::forward on the GPU, checks sampled channels against the reference,
// and prints the time and the percentage of the copy floor. Without a GPU it
// says so and runs the reference on a small problem instead.
#include <cmath>
#include <cstdio>
#include <dwconv/dwconv.cuh>
#include <random>
#include <vector>

#include "floor.cuh"

namespace {

int run_without_gpu(const char* why) {
  std::printf("seed_demo: no GPU (%s); running the reference on a small problem\n", why);
  dwconv::Problem p;
  p.n = 1;
  p.c = 2;
  p.h = 6;
  p.w = 4;
  p.k = 3;
  std::vector<float> x(size_t(p.x_elements())), w = {1, 2, 1, -1, 0, 1}, y(size_t(p.y_elements()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);
  dwconv::reference::forward<float>(p, x.data(), w.data(), nullptr, y.data());
  std::printf("seed_demo: reference y[0,0,0,:] = %g %g %g %g\n", y[0], y[1], y[2], y[3]);
  return 0;
}

#define DEMO_CHECK(expr)                                                        \
  do {                                                                          \
    const cudaError_t e_ = (expr);                                              \
    if (e_ != cudaSuccess) {                                                    \
      std::printf("seed_demo: %s failed: %s\n", #expr, cudaGetErrorString(e_)); \
      return 1;                                                                 \
    }                                                                           \
  } while (0)

}  // namespace

int main() {
  int devices = 0;
  const cudaError_t probe = cudaGetDeviceCount(&devices);
  if (probe != cudaSuccess) return run_without_gpu(cudaGetErrorString(probe));
  if (devices == 0) return run_without_gpu("no device");

  dwconv::Problem p;
  p.n = 64;
  p.c = 8;
  p.h = 512;
  p.w = 512;
  p.k = 3;
  std::mt19937 rng(2026);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> x(size_t(p.x_elements())), w(size_t(p.w_elements()));
  for (auto& v : x) v = dist(rng);
  for (auto& v : w) v = dist(rng);

  float *dx = nullptr, *dw = nullptr, *dy = nullptr;
  DEMO_CHECK(cudaMalloc(&dx, x.size() * sizeof(float)));
  DEMO_CHECK(cudaMalloc(&dw, w.size() * sizeof(float)));
  DEMO_CHECK(cudaMalloc(&dy, size_t(p.y_elements()) * sizeof(float)));
  DEMO_CHECK(cudaMemcpy(dx, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));
  DEMO_CHECK(cudaMemcpy(dw, w.data(), w.size() * sizeof(float), cudaMemcpyHostToDevice));

  dwconv::Status status;
  const double ms =
      dwconv::bench::median_ms([&](int) { status = dwconv::forward<float>(p, dx, dw, nullptr, dy); }, 5, 50);
  if (!status.ok()) {
    std::printf("seed_demo: forward failed: %s\n", status.message());
    return 1;
  }
  DEMO_CHECK(cudaDeviceSynchronize());

  // Check 16 sampled (n, c) planes in full against the reference.
  const int64_t plane_in = p.h * p.w, plane_out = p.out_h() * p.out_w();
  std::vector<float> got(static_cast<size_t>(plane_out)), ref(static_cast<size_t>(plane_out));
  double max_err = 0;
  for (int s = 0; s < 16; ++s) {
    const int64_t plane = int64_t(rng() % uint32_t(p.n * p.c));
    const int64_t c = plane % p.c;
    dwconv::Problem one = p;
    one.n = 1;
    one.c = 1;
    dwconv::reference::forward<float>(one, x.data() + plane * plane_in, w.data() + c * p.k, nullptr, ref.data());
    DEMO_CHECK(cudaMemcpy(got.data(), dy + plane * plane_out, got.size() * sizeof(float), cudaMemcpyDeviceToHost));
    for (int64_t i = 0; i < plane_out; ++i) max_err = std::fmax(max_err, std::fabs(double(got[i]) - ref[i]));
  }
  const bool ok = max_err < 1e-5;

  const double bandwidth = dwconv::bench::copy_bandwidth();
  const double bytes = double(p.x_elements() + p.y_elements()) * sizeof(float);
  const double floor_ms = bandwidth > 0 ? bytes / bandwidth * 1e3 : 0;
  cudaDeviceProp prop;
  DEMO_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("seed_demo: %s, 64x8x512x512 float, K=3\n", prop.name);
  std::printf("seed_demo: 16 sampled planes vs reference: max |error| %.3g (%s)\n", max_err, ok ? "ok" : "MISMATCH");
  std::printf("seed_demo: forward %.3f ms (median of 50), copy bandwidth %.0f GB/s, floor %.3f ms = %.1f%% of floor\n",
              ms, bandwidth / 1e9, floor_ms, ms > 0 ? 100.0 * floor_ms / ms : 0.0);
  cudaFree(dx);
  cudaFree(dw);
  cudaFree(dy);
  return ok ? 0 : 1;
}
