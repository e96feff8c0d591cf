// dwconv: the public forward entry points.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "dwconv/detail/arguments.cuh"
#include "dwconv/detail/dispatch.cuh"
#include "dwconv/detail/forward_kernel.cuh"
#include "dwconv/detail/forward_mma_kernel.cuh"
#include "dwconv/detail/forward_mma_nhwc_kernel.cuh"
#include "dwconv/detail/forward_plan.cuh"
#include "dwconv/detail/forward_rolling_kernel.cuh"
#include "dwconv/detail/forward_staged_kernel.cuh"
#include "dwconv/detail/launch.cuh"
#include "dwconv/numeric.cuh"
#include "dwconv/policy.cuh"
#include "dwconv/problem.hpp"
#include "dwconv/status.hpp"

namespace dwconv {
namespace detail {

// SmallRows: whether the choice may be small_rows (the default tables'), so
// that explicit policies compile no small-problem window.
template <class T, Layout L, class P, int K, bool SmallRows>
auto select_forward_kernel(const KernelChoice& c) {
  constexpr int kThreads = P::kThreads, kRows = P::kRowsPerThread, kVec = P::kVecElems;
  constexpr int kScalarRows = P::kScalarRowsPerThread;
  if constexpr (K == 0) {
    return c.vec_elems == 1 ? forward_kernel<T, L, kThreads, kScalarRows, 1, 0, 1>
                            : forward_kernel<T, L, kThreads, kRows, kVec, 0, 1>;
  } else {
    constexpr int kSmall = SmallRows && kRows > kSmallProblemRows<T> ? kSmallProblemRows<T> : kRows;
    if constexpr (SmallRows && kWindowFixedShift<T, K, L>) {
      if (c.fixed_shift) {
        decltype(&forward_kernel<T, L, kThreads, kRows, kVec, K, 1>) kernel = nullptr;
        dispatch_vec_shift<kVec>(c.vec_elems, c.x_shift, [&](auto v_const, auto s_const) {
          kernel = forward_kernel<T, L, kThreads, kRows, decltype(v_const)::value, K, 1, decltype(s_const)::value>;
        });
        return kernel;
      }
    }
    if (c.stride_ratio == 1)
      return c.vec_elems == 1 ? forward_kernel<T, L, kThreads, kScalarRows, 1, K, 1>
             : c.small_rows   ? forward_kernel<T, L, kThreads, kSmall, kVec, K, 1>
                              : forward_kernel<T, L, kThreads, kRows, kVec, K, 1>;
    return c.vec_elems == 1 ? forward_kernel<T, L, kThreads, kScalarRows, 1, K, 2>
           : c.small_rows   ? forward_kernel<T, L, kThreads, kSmall, kVec, K, 2>
                            : forward_kernel<T, L, kThreads, kRows, kVec, K, 2>;
  }
}

// Launches `kernel`, first raising its shared-memory limit when the tile
// needs more than the default 48 KiB, after the grid before it in the stream
// (launch_after_previous).
template <class Kernel, class T>
cudaError_t launch(Kernel kernel, unsigned grid, int threads, int smem, cudaStream_t stream,
                   const ForwardParams& params, const T* x, const T* w, const T* bias, T* y) {
  const cudaError_t err = allow_shared_memory(kernel, smem);
  if (err != cudaSuccess) return err;
  return launch_after_previous(kernel, grid, threads, smem, stream, params, x, w, bias, y);
}

// Runs the forward kernels on `p`. backward_input reuses them for stride-1
// problems with `flip_taps` (and a problem whose padding may be negative:
// the kernels treat it as an offset, never as a size).
template <class T, class Policy>
Status launch_forward(const Problem& p, const T* x, const T* w, const T* bias, T* y, cudaStream_t stream,
                      bool flip_taps = false) {
  const KernelChoice choice = choose_kernel<T, Policy>(p, x, y);
  ForwardParams params = make_forward_params(p, choice);
  params.flip_taps = flip_taps;
  const unsigned grid = grid_for(params.tiles);
  cudaError_t err = cudaSuccess;
  auto run = [&](auto k_const) {
    dispatch_layout(p.layout, [&](auto layout_const) {
      constexpr int K = decltype(k_const)::value;
      constexpr Layout L = decltype(layout_const)::value;
      using P = typename ResolvePolicy<Policy, T, K, L>::type;
      if constexpr (K > 0 && L == Layout::NHWC && sizeof(T) == 2 && P::kNhwcTensorChannels > 0) {
        if (choice.mma_nhwc) {
          constexpr int kCh = P::kNhwcTensorChannels, kLineWarps = kMmaNhwcLineChannels / kCh;
          auto kernel = choice.threads == 32 * kLineWarps ? forward_mma_nhwc_kernel<T, K, kCh, kLineWarps>
                                                          : forward_mma_nhwc_kernel<T, K, kCh, kMmaNhwcWarps>;
          // One wave of blocks, each walking an equal share of the
          // output blocks, at least the plan's least share.
          const int64_t least = choice.rows_per_thread / 16;
          err = launch_one_wave(kernel, (params.tiles + least - 1) / least, choice.threads, choice.smem_bytes, stream,
                                params, x, w, bias, y);
          return;
        }
      }
      if constexpr (K > 0 && P::kRollingVecElems > 0) {
        if (choice.rolling) {
          constexpr int kT = P::kThreads, kV = P::kRollingVecElems;
          auto kernel =
              choice.vec_elems == 1 ? forward_rolling_kernel<T, L, kT, 1, K> : forward_rolling_kernel<T, L, kT, kV, K>;
          // Runs sized to whole waves of this kernel's resident blocks.
          const int run = rolling_wave_run<T>(p, choice, resident_blocks(kernel, kT, 0, 0));
          if (run != choice.rows_per_thread) {
            KernelChoice waves = choice;
            waves.rows_per_thread = run;
            params = make_forward_params(p, waves);
            params.flip_taps = flip_taps;
          }
          err = launch(kernel, grid_for(params.tiles), kT, 0, stream, params, x, w, bias, y);
          return;
        }
      }
      if constexpr (K > 0 && L == Layout::NCHW && P::kVecElems > 1 && P::kStagedNchw) {
        constexpr int kT = P::kThreads;
        if constexpr (sizeof(T) == 2 && P::kTensorCoreWarps > 0) {
          if (choice.mma) {
            constexpr int kMmaThreads = 32 * P::kTensorCoreWarps;
            auto kernel = choice.mma_aligned_rows ? forward_mma_nchw_kernel<T, kMmaThreads, K, true>
                                                  : forward_mma_nchw_kernel<T, kMmaThreads, K, false>;
            if constexpr (K >= kMmaBandRingMinK) {
              if (choice.mma_band_ring) {
                // One wave of blocks, each keeping its band across its
                // tiles.
                kernel = choice.mma_aligned_rows ? forward_mma_nchw_kernel<T, kMmaThreads, K, true, true>
                                                 : forward_mma_nchw_kernel<T, kMmaThreads, K, false, true>;
                err = launch_one_wave(kernel, params.tiles, kMmaThreads, choice.smem_bytes, stream, params, x, w, bias,
                                      y);
                return;
              }
            }
            err = launch(kernel, grid, kMmaThreads, choice.smem_bytes, stream, params, x, w, bias, y);
            return;
          }
        }
        if (choice.staged) {
          constexpr int kR = P::kRowsPerThread, kV = P::kVecElems;
          // The staged kernel of a block size and a column walk, at the choice's window step.
          auto staged = [&](auto threads_const, auto pairs_const) {
            constexpr int kTh = decltype(threads_const)::value;
            constexpr bool kPr = decltype(pairs_const)::value;
            return choice.stride_ratio == 1 ? forward_staged_nchw_kernel<T, kTh, kR, kV, K, 1, kPr>
                                            : forward_staged_nchw_kernel<T, kTh, kR, kV, K, 2, kPr>;
          };
          using Single = std::false_type;
          using Pairs = std::true_type;
          if constexpr (is_default_table_v<Policy> && kStagedStrips<T, K, L>) {
            if (choice.staged_strip_cols > 0) {
              constexpr int kBoxV = kVecElems16<T>;
              constexpr int kST = kStagedStripThreads;
              auto kernel = choice.stride_ratio == 1 ? forward_strips_nchw_kernel<T, kST, kR, kBoxV, K, 1>
                                                     : forward_strips_nchw_kernel<T, kST, kR, kBoxV, K, 2>;
              const int64_t runs = (params.tiles + params.strip_run - 1) / params.strip_run;
              err = launch(kernel, grid_for(runs), choice.threads, choice.smem_bytes, stream, params, x, w, bias, y);
              return;
            }
          }
          auto kernel = staged(std::integral_constant<int, kT>{}, Single{});
          if constexpr (sizeof(T) == 2) {
            constexpr int kSmall = kStagedSmallThreads;
            if (choice.staged_pairs && choice.threads == kSmall && kT > kSmall)
              kernel = staged(std::integral_constant<int, kSmall>{}, Pairs{});
            else if (choice.staged_pairs)
              kernel = staged(std::integral_constant<int, kT>{}, Pairs{});
          }
          err = launch(kernel, grid, choice.threads, choice.smem_bytes, stream, params, x, w, bias, y);
          return;
        }
      }
      err = launch(select_forward_kernel<T, L, P, K, is_default_table_v<Policy>>(choice), grid, P::kThreads, 0, stream,
                   params, x, w, bias, y);
    });
  };
  if (choice.static_k == 0 || !dispatch_static_k(choice.static_k, run)) run(std::integral_constant<int, 0>{});
  return launch_status(flip_taps ? "backward_input" : "forward", err);
}

}  // namespace detail

/// Checks that forward() can run `p` on these pointers, touching no memory
/// and no GPU state. Returns the Status forward() would return before launch.
/// x, w and y must be non-null (x and y may be null when p.n == 0); bias may
/// be null; each pointer must be aligned to sizeof(T); y must not overlap x,
/// w or bias.
template <class T>
Status can_implement(const Problem& p, const T* x, const T* w, const T* bias, const T* y) {
  static_assert(is_supported_type_v<T>, "dwconv supports float, double, __half and __nv_bfloat16");
  Status s = validate(p);
  if (!s.ok()) return s;
  const bool has_data = p.n > 0;
  if (!(s = detail::check_pointer("x", x, has_data)).ok()) return s;
  if (!(s = detail::check_pointer("w", w, true)).ok()) return s;
  if (!(s = detail::check_pointer("bias", bias, false)).ok()) return s;
  if (!(s = detail::check_pointer("y", y, has_data)).ok()) return s;
  const int64_t e = int64_t(sizeof(T));
  const int64_t y_bytes = p.y_elements() * e;
  if (!(s = detail::check_disjoint("y", y, y_bytes, "x", x, p.x_elements() * e)).ok()) return s;
  if (!(s = detail::check_disjoint("y", y, y_bytes, "w", w, p.w_elements() * e)).ok()) return s;
  return detail::check_disjoint("y", y, y_bytes, "bias", bias, p.c * e);
}

/// y = conv(x, w) + bias on `stream`, as torch.nn.Conv2d(C, C, (K, 1),
/// groups=C, ...) with the problem's stride, padding and dilation.
///
/// x: [N, C, H, W] or [N, H, W, C] (p.layout), y: [N, C, Ho, Wo] or
/// [N, Ho, Wo, C] with Ho = p.out_h(), Wo = p.out_w(); w: [C, K]; bias: [C] or
/// null. All device pointers, elements of T in {float, double, __half,
/// __nv_bfloat16}; half types accumulate in float. Asynchronous: returns
/// after the launch, never allocates, synchronizes or prints. Any argument
/// that can_implement() rejects returns its Status and nothing is launched.
/// On sm_90 and later the kernel is launched with programmatic stream
/// serialization: its blocks may be scheduled during the tail of the
/// kernel before it in the stream and wait for that kernel's end before
/// touching memory, so stream order holds as with a plain launch.
/// `Policy` is DefaultPolicy (the tuned table) or a TilePolicy.
template <class T, class Policy = DefaultPolicy>
Status forward(const Problem& p, const T* x, const T* w, const T* bias, T* y, cudaStream_t stream = 0) {
  Status s = can_implement<T>(p, x, w, bias, y);
  if (!s.ok() || p.n == 0) return s;
  return detail::launch_forward<T, Policy>(p, x, w, bias, y, stream);
}

}  // namespace dwconv
