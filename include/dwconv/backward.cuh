// dwconv: the public backward entry points, dx and dw / dbias.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "dwconv/detail/arguments.cuh"
#include "dwconv/detail/backward_plan.cuh"
#include "dwconv/detail/dispatch.cuh"
#include "dwconv/detail/launch.cuh"
#include "dwconv/forward.cuh"
#include "dwconv/numeric.cuh"
#include "dwconv/policy.cuh"
#include "dwconv/problem.hpp"
#include "dwconv/status.hpp"

namespace dwconv {
namespace detail {

/// The strided dx launch. PairedDy false keeps the polyphase kernel's
/// 2-byte dy gathers where the table would pair them (a benchmark baseline).
template <class T, bool PairedDy = true>
Status launch_backward_input_strided(const Problem& p, const T* dy, const T* w, T* dx, cudaStream_t stream) {
  constexpr int kThreads = kStridedDxThreads;
  // The vec-lane kernel where the pointers and widths allow vectors, else the one-lane one.
  cudaError_t err = cudaSuccess;
  auto launch = [&](auto vec_kernel, auto lane_kernel, int vec) {
    if (!strided_dx_vectorizable<T>(p, dy, dx, vec)) vec = 1;
    const BackwardInputParams params = make_backward_input_params(p, vec);
    err = launch_after_previous(vec > 1 ? vec_kernel : lane_kernel, grid_for((params.items + kThreads - 1) / kThreads),
                                kThreads, 0, stream, params, dy, w, dx);
  };
  dispatch_layout(p.layout, [&](auto layout_const) {
    constexpr Layout L = decltype(layout_const)::value;
    if (dx_is_polyphase(p)) {
      dispatch_static_k(p.k, [&](auto k_const) {
        constexpr int K = decltype(k_const)::value, kVec = kPolyphaseVec<T, K, L>, S = kPolyphaseStride;
        if constexpr (PairedDy && kPolyphasePairedDy<T, L> && kVec >= 4) {
          if (polyphase_dy_pairs<T>(p, dy, kVec)) {
            launch(backward_input_polyphase_kernel<T, L, kThreads, kVec, kPolyphaseRows, K, S, true>,
                   backward_input_polyphase_kernel<T, L, kThreads, 1, kPolyphaseRows, K, S>, kVec);
            return;
          }
        }
        launch(backward_input_polyphase_kernel<T, L, kThreads, kVec, kPolyphaseRows, K, S>,
               backward_input_polyphase_kernel<T, L, kThreads, 1, kPolyphaseRows, K, S>, kVec);
      });
      return;
    }
    constexpr int kVec = kVecElems16<T>;
    launch(backward_input_strided_kernel<T, L, kThreads, kVec, kStridedDxRows>,
           backward_input_strided_kernel<T, L, kThreads, 1, kStridedDxRows>, kVec);
  });
  return launch_status("backward_input", err);
}

/// Phase two with `Threads` a block.
template <class T, int Threads>
Status launch_weight_grad_reduce_blocks(const Problem& p, int64_t slots, int ws_taps,
                                        const typename NumericTraits<T>::Accum* ws, T* dw, T* dbias,
                                        cudaStream_t stream) {
  const int64_t pairs = p.c * ws_taps;
  auto kernel = weight_grad_reduce_kernel<T, Threads>;
  // Launched while phase one runs (its blocks release it as they start), so
  // that its launch overlaps phase one's last blocks.
  return launch_status("backward_weight",
                       launch_after_previous(kernel, grid_for((pairs + kReducePairs - 1) / kReducePairs), Threads, 0,
                                             stream, ws, slots, p.c, ws_taps, dw, dbias));
}

/// Phase two: sums the `slots` partial sums of each (channel, tap) into dw
/// and dbias (when not null).
template <class T>
Status launch_weight_grad_reduce(const Problem& p, int64_t slots, int ws_taps,
                                 const typename NumericTraits<T>::Accum* ws, T* dw, T* dbias, cudaStream_t stream) {
  // Blocks of 1024 threads where 256 would leave slots for a second round of
  // loads (H100, NHWC fp16 56x56, 660 slots: 6.2 -> 5.2 us under ncu); 256
  // elsewhere: at K = 7 (8-16 slots) 1024-thread blocks, mostly idle, lost
  // 1-2 points (`2026-11-26-h100-b27.1-ab.txt`).
  return slots > 256 / kReducePairs * kReduceAhead
             ? launch_weight_grad_reduce_blocks<T, 1024>(p, slots, ws_taps, ws, dw, dbias, stream)
             : launch_weight_grad_reduce_blocks<T, 256>(p, slots, ws_taps, ws, dw, dbias, stream);
}

/// Phase one through `kernel` (`threads` a block, `smem` bytes of dynamic
/// shared memory, its attribute already set) on `plan`, dbias where not
/// null, then phase two.
template <class T, class Kernel>
Status run_weight_grad(Kernel kernel, int threads, int smem, WeightGradPlan plan, const Problem& p, const T* x,
                       const T* dy, T* dw, T* dbias, void* workspace, cudaStream_t stream) {
  using A = typename NumericTraits<T>::Accum;
  plan.params.write_bias = dbias != nullptr;
  A* ws = static_cast<A*>(workspace);
  const cudaError_t err =
      launch_after_previous(kernel, grid_for(plan.params.tiles), threads, smem, stream, plan.params, x, dy, ws);
  if (err != cudaSuccess) return launch_status("backward_weight", err);
  return launch_weight_grad_reduce<T>(p, plan.params.slots, plan.params.ws_taps, ws, dw, dbias, stream);
}

/// dw / dbias through the rolling kernel with an explicit tiling (`Threads`
/// a block, `U` rows in flight, `V` lanes, aligned or Shifted vectors) for
/// layout L and static height K: the default table's entry, or a benchmark
/// sweep's. Returns kUnsupported, launching nothing, where that tiling
/// cannot walk `p` (rolling_weight_grad_fits and vectorizable(), or
/// rolling_weight_grad_shifted_fits). The workspace is
/// backward_weight_workspace_size()'s.
template <class T, Layout L, int Threads, int U, int V, int K, int Shift = 0>
Status launch_weight_grad_rolling(const Problem& p, const T* x, const T* dy, T* dw, T* dbias, void* workspace,
                                  cudaStream_t stream) {
  bool rows_fit;
  if constexpr (Shift == kAnyShift)
    rows_fit = rolling_weight_grad_shifted_fits<T>(p, x, dy, V);
  else if constexpr (Shift > 0)
    rows_fit = fixed_x_shift<T>(p, x, dy, V) == Shift;
  else
    rows_fit = vectorizable<T>(p, x, dy, V);
  if (p.k != K || p.layout != L || !rolling_weight_grad_fits(p, V, Threads) || !rows_fit)
    return Status::error(StatusCode::kUnsupported, "internal: the rolling dw tiling cannot take this problem");
  auto kernel = weight_grad_rolling_kernel<T, L, Threads, U, V, K, Shift>;
  // The grid is one wave of the kernel's blocks on this GPU.
  const int64_t blocks = resident_blocks(kernel, Threads, 0, kWeightGradMinTiles);
  WeightGradPlan plan = plan_weight_grad<T>(p, true);
  plan_weight_grad_rolling<T>(p, Threads, U, V, blocks, plan);
  return run_weight_grad(kernel, Threads, 0, plan, p, x, dy, dw, dbias, workspace, stream);
}

/// dw / dbias through the tensor-core tile (`Threads` a block, height K)
/// with `plan` from plan_weight_grad_mma.
template <class T, int Threads, int K>
Status launch_weight_grad_mma(const Problem& p, const T* x, const T* dy, T* dw, T* dbias, void* workspace,
                              cudaStream_t stream, WeightGradPlan plan) {
  static_assert(std::is_same<typename NumericTraits<T>::Accum, float>::value, "the tensor-core tile sums in float");
  auto kernel = weight_grad_mma_nchw_kernel<T, Threads, K>;
  const cudaError_t err = allow_shared_memory(kernel, plan.smem_bytes, int(Threads / 32 * sizeof(float)));
  if (err != cudaSuccess) return launch_status("backward_weight", err);
  return run_weight_grad(kernel, Threads, plan.smem_bytes, plan, p, x, dy, dw, dbias, workspace, stream);
}

/// dw / dbias through the plane tile (height K, MinBlocks blocks a
/// multiprocessor), a block a tile, with `plan` from
/// plan_weight_grad_mma_plane.
template <class T, int K, int MinBlocks>
Status launch_weight_grad_mma_plane(const Problem& p, const T* x, const T* dy, T* dw, T* dbias, void* workspace,
                                    cudaStream_t stream, const WeightGradPlan& plan) {
  static_assert(std::is_same<typename NumericTraits<T>::Accum, float>::value, "the tensor-core tile sums in float");
  constexpr int kT = kDwPlaneThreads;
  auto kernel = weight_grad_mma_plane_kernel<T, kT, K, MinBlocks>;
  const int smem = dw_plane_smem_bytes<T>(plan.params, kT, K);
  const cudaError_t err = allow_shared_memory(kernel, smem, int(kT / 32 * sizeof(float)));
  if (err != cudaSuccess) return launch_status("backward_weight", err);
  return run_weight_grad(kernel, kT, smem, plan, p, x, dy, dw, dbias, workspace, stream);
}

/// dw / dbias through the NHWC tensor-core tile (height K), one wave of its
/// blocks on this GPU; `p` must pass mma_nhwc_weight_grad_applies.
template <class T, int K>
Status launch_weight_grad_mma_nhwc(const Problem& p, const T* x, const T* dy, T* dw, T* dbias, void* workspace,
                                   cudaStream_t stream) {
  static_assert(std::is_same<typename NumericTraits<T>::Accum, float>::value, "the tensor-core tile sums in float");
  auto kernel = weight_grad_mma_nhwc_kernel<T, K>;
  const int smem = DwMmaNhwcSmem{K}.bytes();
  const cudaError_t err = allow_shared_memory(kernel, smem);
  if (err != cudaSuccess) return launch_status("backward_weight", err);
  WeightGradPlan plan;
  plan_weight_grad_mma_nhwc<T>(p, resident_blocks(kernel, kDwMmaNhwcThreads, smem, kWeightGradMinTiles), plan);
  return run_weight_grad(kernel, kDwMmaNhwcThreads, smem, plan, p, x, dy, dw, dbias, workspace, stream);
}

template <class T>
Status launch_weight_grad(const Problem& p, const T* x, const T* dy, T* dw, T* dbias, void* workspace,
                          cudaStream_t stream, WeightGradKernel kind) {
  using A = typename NumericTraits<T>::Accum;
  // Stride-1 rows that the table's rolling entry takes: with its lanes where
  // the pointers and rows allow vectors, else (NCHW, where the table says
  // so; kRolling: always) shifted vectors or one lane.
  const int rolling_vec = kind == WeightGradKernel::kStaged ? 0 : rolling_weight_grad_vec<T>(p);
  const bool rolling_vectors = rolling_vec > 0 && vectorizable<T>(p, x, dy, rolling_vec);
  const bool one_lane = kind == WeightGradKernel::kRolling || rolling_weight_grad_nchw_one_lane<T>(p);
  const int fixed_vec =
      rolling_vec > 0 && !rolling_vectors
          ? rolling_weight_grad_fixed_shift_vec<T>(p, x, dy, rolling_vec, kind == WeightGradKernel::kRolling)
          : 0;
  const bool shifted = rolling_vec > 0 && !rolling_vectors && fixed_vec == 0 &&
                       rolling_weight_grad_nchw_shifted<T>(p, kind == WeightGradKernel::kRolling) &&
                       rolling_weight_grad_shifted_fits<T>(p, x, dy, rolling_vec);
  // 2-byte NCHW at stride 1 on tensor cores where the table or `kind` asks
  // and the tile fits; below the table's kTensorCoresOverRollingK only rows
  // that the rolling kernel's aligned vectors do not take.
  if constexpr (sizeof(T) == 2) {
    if (kind == WeightGradKernel::kTensorCores || kind == WeightGradKernel::kDefault) {
      bool taken = false;
      Status s;
      // NHWC: where the table or `kind` asks, the tile takes the problem and
      // the GPU its shared memory (up to 192 KiB; else the rolling kernel).
      if (p.layout == Layout::NHWC && mma_nhwc_weight_grad_applies<T>(p, x, dy)) {
        dispatch_static_k(p.k, [&](auto k_const) {
          constexpr int K = decltype(k_const)::value;
          if (kind != WeightGradKernel::kTensorCores && !DefaultWeightGradPolicy<T, K, Layout::NHWC>::kTensorCoresNhwc)
            return;
          if (!shared_memory_fits(DwMmaNhwcSmem{K}.bytes())) return;
          taken = true;
          s = launch_weight_grad_mma_nhwc<T, K>(p, x, dy, dw, dbias, workspace, stream);
        });
        if (taken) return s;
      }
      dispatch_static_k(p.k, [&](auto k_const) {
        constexpr int K = decltype(k_const)::value;
        using Table = DefaultWeightGradPolicy<T, K, Layout::NCHW>;
        constexpr int kT = Table::kTensorCoreThreads;
        if (kind != WeightGradKernel::kTensorCores &&
            (!Table::kTensorCores || (rolling_vectors && K < Table::kTensorCoresOverRollingK)))
          return;
        WeightGradPlan plan;
        if (Table::kTensorCoresPlane && plan_weight_grad_mma_plane<T>(p, x, dy, plan)) {
          taken = true;
          s = launch_weight_grad_mma_plane<T, K, Table::kTensorCoresPlaneMinBlocks>(p, x, dy, dw, dbias, workspace,
                                                                                    stream, plan);
          return;
        }
        if (!plan_weight_grad_mma<T>(p, mma_band_boxed<T>(p.w, x), mma_band_boxed<T>(p.out_w(), dy), kT, plan)) return;
        taken = true;
        s = launch_weight_grad_mma<T, kT, K>(p, x, dy, dw, dbias, workspace, stream, plan);
      });
      if (taken) return s;
    }
  }
  if (rolling_vectors || fixed_vec > 0 || shifted || (rolling_vec > 0 && p.layout == Layout::NCHW && one_lane)) {
    Status s;
    dispatch_static_k(p.k, [&](auto k_const) {
      dispatch_layout(p.layout, [&](auto layout_const) {
        constexpr int K = decltype(k_const)::value;
        constexpr Layout L = decltype(layout_const)::value;
        using Table = DefaultWeightGradPolicy<T, K, L>;
        using R = typename Table::rolling;
        constexpr int kT = R::kThreads, kU = R::kRowsPerThread, kV = R::kVecElems;
        if (rolling_vectors) {
          s = launch_weight_grad_rolling<T, L, kT, kU, kV, K>(p, x, dy, dw, dbias, workspace, stream);
        } else if constexpr (L == Layout::NCHW) {
          if constexpr (Table::kRollingNchwFixedShiftRows > 0) {
            const int shift = fixed_vec > 0 ? fixed_x_shift<T>(p, x, dy, fixed_vec) : -1;
            if (dispatch_vec_shift<kV>(fixed_vec, shift, [&](auto v_const, auto s_const) {
                  constexpr int V = decltype(v_const)::value, S = decltype(s_const)::value;
                  s = launch_weight_grad_rolling<T, L, kT, kU, V, K, S>(p, x, dy, dw, dbias, workspace, stream);
                }))
              return;
          }
          if constexpr (Table::kRollingNchwShifted) {
            if (shifted) {
              s = launch_weight_grad_rolling<T, L, kT, Table::kRollingShiftedAhead, kV, K, kAnyShift>(
                  p, x, dy, dw, dbias, workspace, stream);
              return;
            }
          }
          s = launch_weight_grad_rolling<T, L, kT, kU, 1, K>(p, x, dy, dw, dbias, workspace, stream);
        }
      });
    });
    return s;
  }
  // The policy's vector width for this K; vectors need the same row
  // geometry as the forward's (x and dy in place of x and y).
  WeightGradPlan plan = plan_weight_grad<T>(p, true);
  if (!vectorizable<T>(p, x, dy, plan.vec_elems)) plan = plan_weight_grad<T>(p, false);
  // Without dbias the bias sums are neither formed (staged kernels) nor written.
  plan.params.write_bias = dbias != nullptr;
  A* ws = static_cast<A*>(workspace);
  const unsigned grid = grid_for(plan.params.tiles);
  cudaError_t err = cudaSuccess;
  auto run = [&](auto k_const) {
    dispatch_layout(p.layout, [&](auto layout_const) {
      constexpr int K = decltype(k_const)::value;
      constexpr Layout L = decltype(layout_const)::value;
      using Table = DefaultWeightGradPolicy<T, K, L>;
      using P = typename Table::type;
      using S = typename Table::scalar;
      constexpr int kT = P::kThreads, kR = P::kRowsPerThread, kV = P::kVecElems, kRs = S::kRowsPerThread;
      static_assert(P::kThreads == S::kThreads, "one block size for both tilings");
      // The plan was made for the same table entry (plan_weight_grad).
      auto kernel = plan.vec_elems == 1 ? (plan.stride_ratio == 1 ? weight_grad_partial_kernel<T, L, kT, kRs, 1, K, 1>
                                                                  : weight_grad_partial_kernel<T, L, kT, kRs, 1, K, 2>)
                                        : (plan.stride_ratio == 1 ? weight_grad_partial_kernel<T, L, kT, kR, kV, K, 1>
                                                                  : weight_grad_partial_kernel<T, L, kT, kR, kV, K, 2>);
      // Staged: NCHW on the scalar tiling, copying bands with 16-byte
      // vectors; NHWC on the vector tiling (none where its vector is one lane).
      constexpr bool kNchw = L == Layout::NCHW;
      if constexpr (kNchw || kV > 1) {
        if (plan.params.staged) {
          using St = typename Table::staged_nhwc;
          constexpr int kBandVec = kNchw ? kVecElems16<T> : kV;
          constexpr int kRst = kNchw ? kRs : St::kRowsPerThread;
          auto staged = plan.stride_ratio == 1 ? weight_grad_staged_kernel<T, L, kT, kRst, kBandVec, K, 1>
                                               : weight_grad_staged_kernel<T, L, kT, kRst, kBandVec, K, 2>;
          err = allow_shared_memory(staged, plan.smem_bytes, int(kT * (kNchw ? 1 : kV) * sizeof(A)));
          if (err != cudaSuccess) return;
          err = launch_after_previous(staged, grid, kT, plan.smem_bytes, stream, plan.params, x, dy, ws);
          return;
        }
      }
      if (!plan.per_tap) {
        err = launch_after_previous(kernel, grid, kT, 0, stream, plan.params, x, dy, ws);
        return;
      }
      // One K = 1 launch per tap: tap k is a 1-tap problem whose input starts
      // k * dilation_h rows lower.
      for (int k = 0; k < p.k && err == cudaSuccess; ++k) {
        WeightGradParams f = plan.params;
        f.pad_top = int(int64_t(p.pad_top) - int64_t(k) * p.dilation_h);
        f.tap_base = k;
        f.write_bias = k == 0 && dbias != nullptr;
        err = launch_after_previous(kernel, grid, kT, 0, stream, f, x, dy, ws);
      }
    });
  };
  if (!dispatch_static_k(plan.static_k, run)) return Status::error(StatusCode::kUnsupported, "internal: no kernel");
  if (err != cudaSuccess) return launch_status("backward_weight", err);
  return launch_weight_grad_reduce<T>(p, plan.params.slots, plan.params.ws_taps, ws, dw, dbias, stream);
}

}  // namespace detail

/// Checks that backward_input() can run `p` on these pointers, touching no
/// memory and no GPU state: dy, w and dx non-null (dy and dx may be null
/// when p.n == 0), each aligned to sizeof(T), dx disjoint from dy and w.
template <class T>
Status can_implement_backward_input(const Problem& p, const T* dy, const T* w, const T* dx) {
  static_assert(is_supported_type_v<T>, "dwconv supports float, double, __half and __nv_bfloat16");
  Status s = validate(p);
  if (!s.ok()) return s;
  const bool has_data = p.n > 0;
  if (!(s = detail::check_pointer("dy", dy, has_data)).ok()) return s;
  if (!(s = detail::check_pointer("w", w, true)).ok()) return s;
  if (!(s = detail::check_pointer("dx", dx, has_data)).ok()) return s;
  const int64_t e = int64_t(sizeof(T));
  const int64_t dx_bytes = p.x_elements() * e;
  if (!(s = detail::check_disjoint("dx", dx, dx_bytes, "dy", dy, p.y_elements() * e)).ok()) return s;
  return detail::check_disjoint("dx", dx, dx_bytes, "w", w, p.w_elements() * e);
}

/// dx = the gradient of forward() with respect to x, given dy = dL/dy, on
/// `stream`: dx[n, c, h, w] = sum of w[c, k] * dy[n, c, ho, wo] over the
/// (k, ho, wo) whose tap reads x[n, c, h, w]; zero where none does.
///
/// dy: the forward's y shape, w: [C, K], dx: x's shape, in p.layout; device
/// pointers of T in {float, double, __half, __nv_bfloat16}, accumulated in
/// float (double for double). Every element of dx is written exactly once
/// (no atomics, no read of dx): results are deterministic. Asynchronous;
/// never allocates, synchronizes or prints; arguments that
/// can_implement_backward_input() rejects return its Status, launching
/// nothing. Stride-1 problems run the forward kernels with the flipped filter,
/// so `Policy` (DefaultPolicy or a TilePolicy) tiles them as it tiles
/// forward(); strided problems gather per element. Either way the kernel
/// launches as forward()'s does (on sm_90 and later, after the kernel
/// before it in the stream: programmatic dependent launch).
template <class T, class Policy = DefaultPolicy>
Status backward_input(const Problem& p, const T* dy, const T* w, T* dx, cudaStream_t stream = 0) {
  Status s = can_implement_backward_input<T>(p, dy, w, dx);
  if (!s.ok() || p.n == 0) return s;
  if (detail::dx_is_forward(p))
    return detail::launch_forward<T, Policy>(detail::transposed_problem(p), dy, w, nullptr, dx, stream, true);
  return detail::launch_backward_input_strided<T>(p, dy, w, dx, stream);
}

/// Bytes of workspace backward_weight() needs for `p` (at least 256, so a
/// caller never mistakes a real workspace for the size query). The size
/// depends on the problem alone, not on the pointers. Returns kInvalidProblem
/// like validate() for a bad problem.
template <class T>
Status backward_weight_workspace_size(const Problem& p, size_t* bytes) {
  static_assert(is_supported_type_v<T>, "dwconv supports float, double, __half and __nv_bfloat16");
  if (bytes == nullptr) return Status::error(StatusCode::kNullPointer, "bytes must not be null");
  Status s = validate(p);
  if (!s.ok()) return s;
  const int64_t need = p.n == 0 ? 0 : detail::weight_grad_workspace_bytes<T>(p);
  *bytes = size_t(need > 256 ? need : 256);
  return Status();
}

/// Checks that backward_weight() can run `p` on these pointers and this
/// workspace, touching no memory: x, dy non-null unless p.n == 0; dw
/// non-null; dbias may be null; workspace non-null with workspace_bytes at
/// least backward_weight_workspace_size(); dw and dbias disjoint from x, dy,
/// each other and the workspace; each pointer aligned to its element type.
template <class T>
Status can_implement_backward_weight(const Problem& p, const T* x, const T* dy, const T* dw, const T* dbias,
                                     const void* workspace, size_t workspace_bytes) {
  static_assert(is_supported_type_v<T>, "dwconv supports float, double, __half and __nv_bfloat16");
  size_t need = 0;
  Status s = backward_weight_workspace_size<T>(p, &need);
  if (!s.ok()) return s;
  const bool has_data = p.n > 0;
  if (!(s = detail::check_pointer("x", x, has_data)).ok()) return s;
  if (!(s = detail::check_pointer("dy", dy, has_data)).ok()) return s;
  if (!(s = detail::check_pointer("dw", dw, true)).ok()) return s;
  if (!(s = detail::check_pointer("dbias", dbias, false)).ok()) return s;
  using A = typename NumericTraits<T>::Accum;
  if (!(s = detail::check_pointer("workspace", static_cast<const A*>(workspace), true)).ok()) return s;
  if (workspace_bytes < need)
    return Status::error(StatusCode::kInvalidProblem, "workspace_bytes must be >= %zu for this problem, got %zu", need,
                         workspace_bytes);
  const int64_t e = int64_t(sizeof(T));
  const int64_t dw_bytes = p.w_elements() * e, db_bytes = p.c * e, ws_bytes = int64_t(workspace_bytes);
  const int64_t x_bytes = p.x_elements() * e, dy_bytes = p.y_elements() * e;
  if (!(s = detail::check_disjoint("dw", dw, dw_bytes, "x", x, x_bytes)).ok()) return s;
  if (!(s = detail::check_disjoint("dw", dw, dw_bytes, "dy", dy, dy_bytes)).ok()) return s;
  if (!(s = detail::check_disjoint("dw", dw, dw_bytes, "workspace", workspace, ws_bytes)).ok()) return s;
  if (!(s = detail::check_disjoint("dbias", dbias, db_bytes, "x", x, x_bytes)).ok()) return s;
  if (!(s = detail::check_disjoint("dbias", dbias, db_bytes, "dy", dy, dy_bytes)).ok()) return s;
  if (!(s = detail::check_disjoint("dbias", dbias, db_bytes, "workspace", workspace, ws_bytes)).ok()) return s;
  if (!(s = detail::check_disjoint("dbias", dbias, db_bytes, "dw", dw, dw_bytes)).ok()) return s;
  if (!(s = detail::check_disjoint("workspace", workspace, ws_bytes, "x", x, x_bytes)).ok()) return s;
  return detail::check_disjoint("workspace", workspace, ws_bytes, "dy", dy, dy_bytes);
}

/// dw[c, k] = sum over n, ho, wo of dy[n, c, ho, wo] * x at tap k's input
/// (zero padding reads zero), and dbias[c] = sum of dy[n, c, :, :], on
/// `stream`; the gradients of forward() with respect to w and bias.
///
/// Two-phase, as CUB: with workspace == nullptr, sets *workspace_bytes (also
/// backward_weight_workspace_size()) and returns, touching nothing else.
/// Otherwise workspace must hold *workspace_bytes bytes of device memory
/// that the call may overwrite until it completes on `stream`.
///
/// x: [N, C, H, W], dy: the forward's y shape (p.layout); dw: [C, K];
/// dbias: [C] or null (not computed). Sums are formed in float (double for
/// double) in an order fixed by the problem, the pointers' alignment and,
/// for stride_h 1 (one wave of blocks), the GPU model: results are
/// bitwise identical run to run on a GPU. No atomics, so there is no
/// faster non-deterministic mode to choose. p.n == 0 writes zeros to dw
/// and dbias. Two kernels on `stream`, partial sums then their sum, each
/// launched as forward()'s kernel is (on sm_90 and later, scheduled during
/// the tail of the kernel before it, programmatic dependent launch; each
/// waits for that kernel's end before touching memory, the workspace
/// included). Asynchronous; never allocates,
/// synchronizes or prints; rejected arguments return their Status and
/// launch nothing. `Kernel` picks a kernel family for benchmarks
/// (WeightGradKernel); the default is
/// the table's choice: for fp16 / bf16 NCHW at stride 1 and dilation 1,
/// tensor cores (products exact in float, summed in float). Finite inputs
/// give the same sums whatever the family, up to rounding. A non-finite x
/// element may also turn to NaN the taps whose windows miss it: the staged
/// and tensor-core tiles multiply the zero dy rows past a plane's last
/// output row with the x rows below it (0 * inf).
template <class T, WeightGradKernel Kernel = WeightGradKernel::kDefault>
Status backward_weight(const Problem& p, const T* x, const T* dy, T* dw, T* dbias, void* workspace,
                       size_t* workspace_bytes, cudaStream_t stream = 0) {
  if (workspace_bytes == nullptr) return Status::error(StatusCode::kNullPointer, "workspace_bytes must not be null");
  if (workspace == nullptr) return backward_weight_workspace_size<T>(p, workspace_bytes);
  Status s = can_implement_backward_weight<T>(p, x, dy, dw, dbias, workspace, *workspace_bytes);
  if (!s.ok()) return s;
  if (p.n == 0) {
    cudaError_t err = cudaMemsetAsync(dw, 0, size_t(p.w_elements()) * sizeof(T), stream);
    if (err == cudaSuccess && dbias) err = cudaMemsetAsync(dbias, 0, size_t(p.c) * sizeof(T), stream);
    if (err != cudaSuccess)
      return Status::error(StatusCode::kCudaError, "backward_weight zero fill failed: %s (%s)", cudaGetErrorName(err),
                           cudaGetErrorString(err));
    return Status();
  }
  return detail::launch_weight_grad<T>(p, x, dy, dw, dbias, workspace, stream, Kernel);
}

}  // namespace dwconv
