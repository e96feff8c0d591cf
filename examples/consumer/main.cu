// The smallest program that uses dwconv from its installed package: one
// forward on the GPU (when there is one), checked against the reference.
#include <cmath>
#include <cstdio>
#include <dwconv/dwconv.cuh>
#include <vector>

int main() {
  dwconv::Problem p;
  p.n = 2;
  p.c = 4;
  p.h = 16;
  p.w = 16;
  p.k = 3;
  p.pad_top = p.pad_bottom = 1;

  std::vector<float> x(size_t(p.x_elements())), w(size_t(p.w_elements())), ref(size_t(p.y_elements()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 7) - 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(int(i % 5) - 2);
  dwconv::reference::forward<float>(p, x.data(), w.data(), nullptr, ref.data());

  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("dwconv consumer: no GPU; reference ran, y[0] = %g\n", ref[0]);
    return 0;
  }
  float *dx = nullptr, *dw = nullptr, *dy = nullptr;
  cudaMalloc(&dx, x.size() * sizeof(float));
  cudaMalloc(&dw, w.size() * sizeof(float));
  cudaMalloc(&dy, ref.size() * sizeof(float));
  cudaMemcpy(dx, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice);
  cudaMemcpy(dw, w.data(), w.size() * sizeof(float), cudaMemcpyHostToDevice);
  const dwconv::Status s = dwconv::forward<float>(p, dx, dw, nullptr, dy);
  std::vector<float> y(ref.size());
  cudaMemcpy(y.data(), dy, y.size() * sizeof(float), cudaMemcpyDeviceToHost);
  cudaFree(dx);
  cudaFree(dw);
  cudaFree(dy);
  if (!s.ok()) {
    std::printf("dwconv consumer: forward failed: %s\n", s.message());
    return 1;
  }
  for (size_t i = 0; i < y.size(); ++i)
    if (y[i] != ref[i]) {
      std::printf("dwconv consumer: y[%zu] = %g, reference %g\n", i, y[i], ref[i]);
      return 1;
    }
  std::printf("dwconv consumer: %zu outputs match the reference\n", y.size());
  return 0;
}
