// dwconv tests: RAII device memory and the check for a usable GPU.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

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

}  // namespace testbed
}  // namespace dwconv
