// dwconv: what every launcher shares: the grid-size cap, the shared-memory
// attribute and opt-in limit of large tiles, and a launch error as a Status.
#pragma once

#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

#include "dwconv/status.hpp"

namespace dwconv {
namespace detail {

/// Blocks of a grid-stride launch: the tile count, capped at INT_MAX (the
/// kernels loop over the rest).
inline unsigned grid_for(int64_t blocks) { return unsigned(blocks < INT_MAX ? blocks : INT_MAX); }

/// Launch attribute for kernels whose shared memory (dynamic plus static)
/// exceeds the default 48 KiB.
template <class Kernel>
cudaError_t allow_shared_memory(Kernel kernel, int dynamic_bytes, int static_bytes = 0) {
  if (dynamic_bytes + static_bytes <= 48 * 1024) return cudaSuccess;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, dynamic_bytes);
}

/// Whether the current GPU lets a block opt in to `bytes` of shared memory
/// (dynamic plus static); false where the runtime cannot say.
inline bool shared_memory_fits(int bytes) {
  int device = 0, optin = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return bytes <= optin;
}

/// Phase one's blocks let the grid launched after them with programmatic
/// stream serialization (phase two) be scheduled before they end; that grid
/// waits in wait_for_prerequisites until this one has finished and its
/// writes are visible. Only in sm_90 code: launches_programmatically() says
/// whether a kernel has it.
__device__ __forceinline__ void release_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

/// Waits for the grid before this one in the stream (returns at once where
/// this grid was launched without programmatic stream serialization).
__device__ __forceinline__ void wait_for_prerequisites() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

/// Whether `kernel` may be launched with programmatic stream serialization:
/// its code for this GPU comes from sm_90 or later PTX, so it holds
/// wait_for_prerequisites' wait (code built for an older architecture and
/// JIT-compiled for this GPU would not wait).
template <class Kernel>
bool launches_programmatically(Kernel kernel) {
  cudaFuncAttributes attr;
  if (cudaFuncGetAttributes(&attr, kernel) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attr.ptxVersion >= 90;
}

/// The Status of a launch: `what` names the entry point.
inline Status launch_status(const char* what, cudaError_t err) {
  if (err == cudaSuccess) return Status();
  return Status::error(StatusCode::kCudaError, "%s kernel launch failed: %s (%s)", what, cudaGetErrorName(err),
                       cudaGetErrorString(err));
}

}  // namespace detail
}  // namespace dwconv
