// dwconv tests: RAII device memory and the check for a usable GPU.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dwconv {
namespace testbed {

/// "" when a CUDA device can run kernels; otherwise why not, for GTEST_SKIP.
inline std::string gpu_unavailable_reason() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) return std::string("no usable CUDA device: ") + cudaGetErrorString(err);
  if (count == 0) return "no CUDA device present";
  return "";
}

#define DWCONV_REQUIRE_GPU()                                             \
  do {                                                                   \
    const std::string why = ::dwconv::testbed::gpu_unavailable_reason(); \
    if (!why.empty()) GTEST_SKIP() << "GPU test skipped: " << why;       \
  } while (0)

#define DWCONV_CUDA_CHECK(expr)                                                              \
  do {                                                                                       \
    const cudaError_t dwconv_err_ = (expr);                                                  \
    ASSERT_EQ(dwconv_err_, cudaSuccess) << #expr << ": " << cudaGetErrorString(dwconv_err_); \
  } while (0)

/// Owns one cudaMalloc'd allocation of bytes.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) { allocate(bytes); }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  cudaError_t allocate(size_t bytes) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = bytes;
    return cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes);
  }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

/// Poisoned elements after each output: they must keep their poison.
inline constexpr int kGuard = 16;

/// Copies `host` into a fresh allocation at element offset `shift` (0 keeps
/// the allocation's 256-byte alignment, 1 makes an "odd" pointer). Returns
/// "" or what failed.
template <class T>
std::string upload(DeviceBuffer& buf, const std::vector<T>& host, int shift, T** out) {
  if (buf.allocate((host.size() + 1 + kGuard) * sizeof(T)) != cudaSuccess) return "cudaMalloc";
  *out = buf.as<T>() + shift;
  if (!host.empty() && cudaMemcpy(*out, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice) != cudaSuccess)
    return "copy to device";
  return "";
}

/// An output of `n` elements at offset `shift`, plus kGuard guards, all
/// poisoned: all-ones bytes are a NaN in every supported type, so unwritten
/// outputs show.
template <class T>
std::string poisoned(DeviceBuffer& buf, size_t n, int shift, T** out) {
  if (buf.allocate((n + 1 + kGuard) * sizeof(T)) != cudaSuccess) return "cudaMalloc";
  *out = buf.as<T>() + shift;
  return cudaMemset(buf.as<T>(), 0xFF, buf.bytes()) == cudaSuccess ? "" : "poison";
}

/// Reads n outputs back and checks that the guards after them kept their poison.
template <class T>
std::string download(const T* dev, size_t n, std::vector<T>* host) {
  std::vector<T> all(n + kGuard);
  if (cudaMemcpy(all.data(), dev, all.size() * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess) return "copy to host";
  for (size_t g = n; g < all.size(); ++g) {
    const unsigned char* bytes = reinterpret_cast<const unsigned char*>(&all[g]);
    for (size_t i = 0; i < sizeof(T); ++i)
      if (bytes[i] != 0xFF) return "write past the end (guard element " + std::to_string(g - n) + ")";
  }
  all.resize(n);
  *host = std::move(all);
  return "";
}

/// Waits for `stream`; "" or the kernel's error.
inline std::string finish(cudaStream_t stream) {
  if (cudaStreamSynchronize(stream) != cudaSuccess)
    return "kernel failed: " + std::string(cudaGetErrorString(cudaGetLastError()));
  return "";
}

}  // namespace testbed
}  // namespace dwconv
