// dwconv: what every launcher shares: the grid-size cap, the shared-memory
// attribute and opt-in limit of large tiles, and a launch error as a Status.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <utility>

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

/// Blocks of `kernel` (`threads` a block, `dynamic_smem` bytes of dynamic
/// shared memory) that the current GPU holds at once: one wave. Where the
/// runtime cannot say, `fallback`: a fixed grid, still correct.
template <class Kernel>
int64_t resident_blocks(Kernel kernel, int threads, int dynamic_smem, int64_t fallback) {
  int device = 0, sms = 0, per_sm = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, dynamic_smem) != cudaSuccess ||
      sms * per_sm < 1) {
    (void)cudaGetLastError();
    return fallback;
  }
  return int64_t(sms) * per_sm;
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

/// The start of every kernel that launch_after_previous launches (with
/// programmatic stream serialization): waits for the grid before it in the
/// stream to finish (its writes visible), then lets the grid after it be
/// scheduled before this one ends, which waits here in turn. Both come
/// before any global memory access, so the stream's order holds for every
/// tensor. Only in sm_90 code: launches_programmatically() says whether the
/// program's code for this GPU has it; without the attribute the wait
/// returns at once.
__device__ __forceinline__ void follow_previous_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

/// An empty kernel whose attributes stand for every kernel of the program
/// (all built for the same architectures, as one program is); a template,
/// so that every translation unit may hold it.
template <int = 0>
__global__ void programmatic_launch_probe() {}

/// Whether kernels may be launched with programmatic stream serialization
/// on the current device: their code for it comes from sm_90 or later PTX,
/// so it holds follow_previous_grid's wait (code built for an older
/// architecture and JIT-compiled for this GPU would not wait). Asked once a
/// device (cudaFuncGetAttributes on the probe), not once a launch.
inline bool launches_programmatically() {
  constexpr int kCachedDevices = 64;
  static std::atomic<signed char> known[kCachedDevices] = {};  // 0: not asked, 1: yes, -1: no
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  if (device >= 0 && device < kCachedDevices) {
    const signed char k = known[device].load(std::memory_order_relaxed);
    if (k != 0) return k > 0;
  }
  cudaFuncAttributes attr;
  bool yes = false;
  if (cudaFuncGetAttributes(&attr, programmatic_launch_probe<>) == cudaSuccess)
    yes = attr.ptxVersion >= 90;
  else
    (void)cudaGetLastError();
  if (device >= 0 && device < kCachedDevices) known[device].store(yes ? 1 : -1, std::memory_order_relaxed);
  return yes;
}

/// Launches `kernel` (`grid` blocks of `threads`, `smem` bytes of dynamic
/// shared memory) on `stream` with programmatic stream serialization where
/// launches_programmatically() allows it: its blocks may be scheduled while
/// the grid before it ends, hiding the launch's latency behind that grid's
/// tail (the kernel must begin with follow_previous_grid()).
template <class... Params, class... Args>
cudaError_t launch_after_previous(void (*kernel)(Params...), unsigned grid, int threads, int smem, cudaStream_t stream,
                                  Args&&... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(grid);
  cfg.blockDim = dim3(unsigned(threads));
  cfg.dynamicSmemBytes = size_t(smem);
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = launches_programmatically() ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

/// Launches `kernel` as launch_after_previous does on at most one wave of
/// blocks (resident_blocks, at most `tiles`), first raising its
/// shared-memory limit where `smem` needs it (the occupancy query reads
/// the attribute): for kernels whose blocks each walk a share of `tiles`.
template <class... Params, class... Args>
cudaError_t launch_one_wave(void (*kernel)(Params...), int64_t tiles, int threads, int smem, cudaStream_t stream,
                            Args&&... args) {
  const cudaError_t err = allow_shared_memory(kernel, smem);
  if (err != cudaSuccess) return err;
  const int64_t wave = resident_blocks(kernel, threads, smem, tiles);
  return launch_after_previous(kernel, grid_for(wave < tiles ? wave : tiles), threads, smem, stream,
                               std::forward<Args>(args)...);
}

/// Tiles [begin, end) of `total` that block `b` of `grid` takes: equal
/// shares in order, the first total % grid one tile longer.
struct WaveShare {
  int64_t begin, end;
};
__host__ __device__ inline WaveShare wave_share(int64_t total, int64_t grid, int64_t b) {
  const int64_t q = total / grid, r = total % grid;
  const int64_t begin = b * q + (b < r ? b : r);
  return {begin, begin + q + (b < r ? 1 : 0)};
}

/// A run of a walk: `tiles` tiles of one column from its tile `first`.
struct WaveRun {
  int64_t column, first, tiles;
};

/// The tiles that block `b` of a one-wave grid of `grid` walks, of `tiles`
/// numbered down columns of `column_tiles`: in round k of the whole rounds
/// (columns / grid), column k * grid + b, so that the blocks at work at
/// once take adjacent columns at about the same depth; then its equal
/// share (wave_share) of the tiles past the last round. Walks differ by at
/// most one tile. Equal shares in order left the blocks at work at once
/// columns apart across the whole tensor and cost the NHWC tensor-core
/// tile 2-6 points of the floor (f37 in bench/NOTES.md). The NCHW band
/// ring keeps equal shares in order: walking planes this way, its K = 15
/// tiles gained 2-3 points but K = 31 dx lost 7 (f38).
struct WaveWalk {
  int64_t column_tiles, grid, b;
  int64_t whole;   // tiles in whole columns (the rounds)
  WaveShare rest;  // tile numbers of the share past the rounds
  __host__ __device__ int64_t size() const { return whole + rest.end - rest.begin; }
  /// The tile number of step `v` (< size()).
  __host__ __device__ int64_t tile(int64_t v) const {
    if (v >= whole) return rest.begin + (v - whole);
    const int64_t round = v / column_tiles;
    return (round * grid + b) * column_tiles + (v - round * column_tiles);
  }
  /// The run that starts at step `v`: the walk's tiles from v on within
  /// one column.
  __host__ __device__ WaveRun run(int64_t v) const {
    const int64_t u = tile(v);
    const int64_t column = u / column_tiles, first = u - column * column_tiles;
    const int64_t left = v < whole ? column_tiles - first : rest.end - u;
    return {column, first, left < column_tiles - first ? left : column_tiles - first};
  }
};
__host__ __device__ inline WaveWalk wave_walk(int64_t tiles, int64_t column_tiles, int64_t grid, int64_t b) {
  const int64_t rounds = tiles / column_tiles / grid;
  const int64_t done = rounds * grid * column_tiles;
  const WaveShare share = wave_share(tiles - done, grid, b);
  return {column_tiles, grid, b, rounds * column_tiles, {done + share.begin, done + share.end}};
}

/// The Status of a launch: `what` names the entry point.
inline Status launch_status(const char* what, cudaError_t err) {
  if (err == cudaSuccess) return Status();
  return Status::error(StatusCode::kCudaError, "%s kernel launch failed: %s (%s)", what, cudaGetErrorName(err),
                       cudaGetErrorString(err));
}

}  // namespace detail
}  // namespace dwconv
