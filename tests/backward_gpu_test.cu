// GPU tests of backward_input() and backward_weight() for one element type
// (DWCONV_TEST_TYPE): random edge-biased problems against the host
// reference, every kernel path, run-to-run determinism of dw, and (in double)
// finite differences of the GPU forward against the GPU gradients. Skipped,
// not failed, without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dwconv/dwconv.cuh>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "device_buffer.cuh"
#include "testbed.hpp"

#ifndef DWCONV_TEST_TYPE
#error "define DWCONV_TEST_TYPE to float, double, __half or __nv_bfloat16"
#endif

namespace dwconv {
namespace {

using T = DWCONV_TEST_TYPE;
using Traits = NumericTraits<T>;
using testbed::DeviceBuffer;
using testbed::download;
using testbed::finish;
using testbed::poisoned;
using testbed::upload;

struct Options {
  bool integers = true;
  bool odd_pointers = false;  // shift every operand by one element
  cudaStream_t stream = nullptr;
  WeightGradKernel dw_kernel = WeightGradKernel::kDefault;
  // > 0: dw on the NCHW tensor-core tile with this many pieces a chunk in
  // place of the plan's (chunk_target aims at thousands of blocks, so
  // problems small enough to test here get one or two pieces a chunk),
  // so that a block walks several bands of a plane in turn.
  int64_t dw_mma_pieces_per_chunk = 0;
  // > 0: dw through the plane tile with this many images a chunk.
  int64_t dw_plane_images_per_chunk = 0;
};

// backward_weight on the NCHW tensor-core tile with o.dw_mma_pieces_per_chunk
// pieces a chunk; the workspace is at least the default plan's (fewer chunks
// take fewer slots).
Status backward_weight_mma_chunks(const Problem& p, const T* x, const T* dy, T* dw, T* dbias, void* ws,
                                  const Options& o) {
  Status s = Status::error(StatusCode::kUnsupported, "the tensor-core dw tile is for 2-byte NCHW at a static K");
  if constexpr (sizeof(T) == 2) {
    detail::dispatch_static_k(p.k, [&](auto k_const) {
      constexpr int K = decltype(k_const)::value;
      constexpr int kT = detail::DefaultWeightGradPolicy<T, K, Layout::NCHW>::kTensorCoreThreads;
      detail::WeightGradPlan plan;
      if (p.layout != Layout::NCHW ||
          !detail::plan_weight_grad_mma<T>(p, detail::mma_band_boxed<T>(p.w, x),
                                           detail::mma_band_boxed<T>(p.out_w(), dy), kT, plan))
        return;
      detail::chunk_pieces(p, plan.params, o.dw_mma_pieces_per_chunk);
      s = detail::launch_weight_grad_mma<T, kT, K>(p, x, dy, dw, dbias, ws, o.stream, plan);
    });
  }
  return s;
}

// backward_weight on the plane tile with o.dw_plane_images_per_chunk images
// a chunk; the workspace is at least the default plan's (fewer chunks take
// fewer slots).
Status backward_weight_plane_chunks(const Problem& p, const T* x, const T* dy, T* dw, T* dbias, void* ws,
                                    const Options& o) {
  Status s = Status::error(StatusCode::kUnsupported, "the plane tile does not take this problem");
  if constexpr (sizeof(T) == 2) {
    detail::dispatch_static_k(p.k, [&](auto k_const) {
      detail::WeightGradPlan plan;
      if (!detail::plan_weight_grad_mma_plane<T>(p, x, dy, plan)) return;
      detail::chunk_images(p, plan.params, o.dw_plane_images_per_chunk);
      constexpr int K = decltype(k_const)::value;
      constexpr int kMinBlocks = detail::DefaultWeightGradPolicy<T, K, Layout::NCHW>::kTensorCoresPlaneMinBlocks;
      s = detail::launch_weight_grad_mma_plane<T, K, kMinBlocks>(p, x, dy, dw, dbias, ws, o.stream, plan);
    });
  }
  return s;
}

// backward_weight with the kernel family o.dw_kernel prefers.
Status call_backward_weight(const Problem& p, const T* x, const T* dy, T* dw, T* dbias, void* ws, size_t* bytes,
                            const Options& o) {
  if (o.dw_mma_pieces_per_chunk > 0) return backward_weight_mma_chunks(p, x, dy, dw, dbias, ws, o);
  if (o.dw_plane_images_per_chunk > 0) return backward_weight_plane_chunks(p, x, dy, dw, dbias, ws, o);
  switch (o.dw_kernel) {
    case WeightGradKernel::kRolling:
      return backward_weight<T, WeightGradKernel::kRolling>(p, x, dy, dw, dbias, ws, bytes, o.stream);
    case WeightGradKernel::kStaged:
      return backward_weight<T, WeightGradKernel::kStaged>(p, x, dy, dw, dbias, ws, bytes, o.stream);
    case WeightGradKernel::kTensorCores:
      return backward_weight<T, WeightGradKernel::kTensorCores>(p, x, dy, dw, dbias, ws, bytes, o.stream);
    default: return backward_weight<T>(p, x, dy, dw, dbias, ws, bytes, o.stream);
  }
}

#define DWCONV_TRY(expr)                      \
  do {                                        \
    const std::string dwconv_e_ = (expr);     \
    if (!dwconv_e_.empty()) return dwconv_e_; \
  } while (0)

// dx for one problem on the GPU against reference::backward_input.
std::string run_dx(const Problem& p, std::mt19937_64& rng, const Options& o) {
  std::vector<T> dy(size_t(p.y_elements())), w(size_t(p.w_elements()));
  const int amp = testbed::integer_amplitude<T>(p.k);
  testbed::fill_random(dy, rng, o.integers, amp);
  testbed::fill_random(w, rng, o.integers, amp);
  const int shift = o.odd_pointers ? 1 : 0;
  DeviceBuffer b_dy, b_w, b_dx;
  T *d_dy = nullptr, *d_w = nullptr, *d_dx = nullptr;
  DWCONV_TRY(upload(b_dy, dy, shift, &d_dy));
  DWCONV_TRY(upload(b_w, w, shift, &d_w));
  DWCONV_TRY(poisoned(b_dx, size_t(p.x_elements()), shift, &d_dx));
  if (cudaDeviceSynchronize() != cudaSuccess) return "synchronize";
  const Status s = backward_input<T>(p, d_dy, d_w, d_dx, o.stream);
  if (!s.ok()) return std::string("backward_input failed: ") + s.message();
  DWCONV_TRY(finish(o.stream));
  std::vector<T> got;
  DWCONV_TRY(download(d_dx, size_t(p.x_elements()), &got));

  std::vector<T> ref(got.size()), bound;
  reference::backward_input<T>(p, dy.data(), w.data(), ref.data());
  if (!o.integers) {
    bound.resize(ref.size());
    const std::vector<T> a_dy = testbed::abs_of(dy), a_w = testbed::abs_of(w);
    reference::backward_input<T>(p, a_dy.data(), a_w.data(), bound.data());
  }
  return testbed::compare_values<T>("dx", ref, bound, testbed::Tolerance<T>::relative(p.k), got, o.integers);
}

// dw and dbias for one problem against reference::backward_weight. The
// workspace is poisoned too: a slot the kernels forget shows as NaN.
std::string run_dw(const Problem& p, std::mt19937_64& rng, const Options& o, bool with_bias) {
  std::vector<T> x(size_t(p.x_elements())), dy(size_t(p.y_elements()));
  // Integer sums stay exact: at most 300000 products of magnitude <= 4.
  const int amp = 2;
  testbed::fill_random(x, rng, o.integers, amp);
  testbed::fill_random(dy, rng, o.integers, amp);
  const int shift = o.odd_pointers ? 1 : 0;
  DeviceBuffer b_x, b_dy, b_dw, b_db, b_ws;
  T *d_x = nullptr, *d_dy = nullptr, *d_dw = nullptr, *d_db = nullptr;
  DWCONV_TRY(upload(b_x, x, shift, &d_x));
  DWCONV_TRY(upload(b_dy, dy, shift, &d_dy));
  DWCONV_TRY(poisoned(b_dw, size_t(p.w_elements()), shift, &d_dw));
  DWCONV_TRY(poisoned(b_db, size_t(p.c), shift, &d_db));
  size_t ws_bytes = 0;
  Status s = backward_weight<T>(p, d_x, d_dy, d_dw, with_bias ? d_db : nullptr, nullptr, &ws_bytes);
  if (!s.ok()) return std::string("workspace query failed: ") + s.message();
  if (ws_bytes < 256) return "workspace size below 256 bytes";
  if (b_ws.allocate(ws_bytes) != cudaSuccess || cudaMemset(b_ws.as<T>(), 0xFF, ws_bytes) != cudaSuccess)
    return "workspace";
  if (cudaDeviceSynchronize() != cudaSuccess) return "synchronize";
  s = call_backward_weight(p, d_x, d_dy, d_dw, with_bias ? d_db : nullptr, b_ws.as<void>(), &ws_bytes, o);
  if (!s.ok()) return std::string("backward_weight failed: ") + s.message();
  DWCONV_TRY(finish(o.stream));
  std::vector<T> got_w, got_b;
  DWCONV_TRY(download(d_dw, size_t(p.w_elements()), &got_w));
  DWCONV_TRY(download(d_db, size_t(p.c), &got_b));

  std::vector<T> ref_w(got_w.size()), ref_b(got_b.size()), bound_w, bound_b;
  reference::backward_weight<T>(p, x.data(), dy.data(), ref_w.data(), ref_b.data());
  if (!o.integers) {
    bound_w.resize(ref_w.size());
    bound_b.resize(ref_b.size());
    const std::vector<T> a_x = testbed::abs_of(x), a_dy = testbed::abs_of(dy);
    reference::backward_weight<T>(p, a_x.data(), a_dy.data(), bound_w.data(), bound_b.data());
  }
  // Each sum has n * out_h * out_w terms, added in some order in Accum.
  const double terms = double(p.n) * double(p.out_h()) * double(p.out_w());
  const double rel =
      2.0 * testbed::Tolerance<T>::unit_roundoff() + 2.0 * (terms + 1.0) * testbed::Tolerance<T>::accum_roundoff();
  std::string err = testbed::compare_values<T>("dw", ref_w, bound_w, rel, got_w, o.integers);
  if (with_bias) {
    err += testbed::compare_values<T>("dbias", ref_b, bound_b, rel, got_b, o.integers);
  } else {
    for (const T& v : got_b)
      if (!std::isnan(testbed::as_double(v))) return err + "  dbias written although null was passed\n";
  }
  return err;
}

class BackwardGpu : public ::testing::Test {
 protected:
  void SetUp() override { DWCONV_REQUIRE_GPU(); }
};

template <class Run>
void random_problems(const char* what, Layout layout, Run&& run) {
  const uint64_t seed = testbed::test_seed();
  const int cases = testbed::test_cases(300);
  std::printf("[ seed ] %s %s %s: DWCONV_TEST_SEED=%llu, %d cases\n", what, Traits::kName, to_string(layout),
              (unsigned long long)seed, cases);
  std::mt19937_64 rng(seed);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  int failures = 0;
  for (int i = 0; i < cases && failures < 5; ++i) {
    const Problem p = testbed::random_problem(rng, layout);
    Options o;
    o.integers = rng() % 2 == 0;
    o.odd_pointers = rng() % 4 == 0;
    o.stream = (i % 3 == 0) ? nullptr : stream;
    const bool bias = rng() % 2 == 0;
    const std::string err = run(p, rng, o, bias);
    if (!err.empty()) {
      ++failures;
      ADD_FAILURE() << what << " case " << i << " (seed " << seed << "): " << testbed::describe(p)
                    << " integers=" << o.integers << " odd=" << o.odd_pointers << " bias=" << bias << "\n"
                    << err;
    }
  }
  cudaStreamDestroy(stream);
}

auto dx_runner = [](const Problem& p, std::mt19937_64& rng, const Options& o, bool) { return run_dx(p, rng, o); };
auto dw_runner = [](const Problem& p, std::mt19937_64& rng, const Options& o, bool bias) {
  return run_dw(p, rng, o, bias);
};

TEST_F(BackwardGpu, InputRandomProblemsNCHW) { random_problems("dx", Layout::NCHW, dx_runner); }
TEST_F(BackwardGpu, InputRandomProblemsNHWC) { random_problems("dx", Layout::NHWC, dx_runner); }
TEST_F(BackwardGpu, WeightRandomProblemsNCHW) { random_problems("dw", Layout::NCHW, dw_runner); }
TEST_F(BackwardGpu, WeightRandomProblemsNHWC) { random_problems("dw", Layout::NHWC, dw_runner); }

// Every path: dx through the forward kernels (stride 1) and the strided
// gather in both access widths; dw through each static K with window steps
// 1 and 2 in both access widths, and the tap-by-tap path.
TEST_F(BackwardGpu, EveryPath) {
  std::mt19937_64 rng(2024);
  std::vector<int> ks(std::begin(detail::kStaticKernelHeights), std::end(detail::kStaticKernelHeights));
  ks.push_back(2);
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (int k : ks)
      for (int stride : {1, 2, 3})
        for (bool vector : {true, false}) {
          Problem p;
          p.layout = layout;
          p.n = 2;
          p.c = 16;
          p.k = k;
          p.h = 2 * k + 21;
          p.w = vector ? 64 : 37;
          p.stride_h = stride;
          p.stride_w = stride == 3 ? 2 : 1;
          p.pad_top = k / 2;
          p.pad_bottom = k / 2 + 1;
          p.pad_left = vector ? 0 : 1;
          Options o;
          o.odd_pointers = !vector;
          EXPECT_EQ(run_dx(p, rng, o), "") << testbed::describe(p);
          EXPECT_EQ(run_dw(p, rng, o, true), "") << testbed::describe(p);
          const detail::WeightGradPlan plan = detail::plan_weight_grad<T>(p, vector);
          const bool in_table =
              std::find(std::begin(detail::kStaticKernelHeights), std::end(detail::kStaticKernelHeights), k) !=
              std::end(detail::kStaticKernelHeights);
          EXPECT_EQ(plan.per_tap, !in_table || stride == 3) << testbed::describe(p);
          // NCHW rows on the scalar tiling (rows vectors cannot walk, or a
          // table entry of one lane, as double at K = 31) and NHWC rows on
          // the vector tiling with stride 1 along W stage their bands (all
          // fit here; 16 channels make a power-of-two count of vectors).
          EXPECT_TRUE(vector || plan.vec_elems == 1) << testbed::describe(p);
          const bool staged = layout == Layout::NCHW ? plan.vec_elems == 1 : plan.vec_elems > 1 && p.stride_w == 1;
          EXPECT_EQ(plan.params.staged, staged && !plan.per_tap) << testbed::describe(p);
        }
}

// Stride-1 dx in 2-byte NCHW runs the forward's tensor-core tiles on dy
// where the table takes them (K = 7, 9 and K >= 15; here 7, 15 and 31), with the padding turned
// negative (transposed_problem): dy's rows (Wo = W + pads) whole 16-byte
// vectors (72) or not (66, 69).
TEST_F(BackwardGpu, InputThroughTensorCores) {
  if constexpr (sizeof(T) != 2) {
    GTEST_SKIP() << "tensor-core tiles are for 2-byte types";
  } else {
    std::mt19937_64 rng(31);
    const void* aligned = reinterpret_cast<const void*>(uintptr_t(1) << 20);
    for (int k : {7, 15, 31})
      for (auto [pad, pad_right] : {std::pair{2, 6}, std::pair{3, 5}, std::pair{1, 1}, std::pair{5, 0}}) {
        Problem p;
        p.n = 2;
        p.c = 3;
        p.k = k;
        p.h = 100 + k;
        p.w = 64;
        p.pad_top = p.pad_bottom = k / 2;
        p.pad_left = pad;
        p.pad_right = pad_right;  // Wo = 72, 72, 66, 69
        Options o;
        o.integers = pad != 3;
        EXPECT_EQ(run_dx(p, rng, o), "") << testbed::describe(p);
        const detail::KernelChoice c =
            detail::choose_kernel<T, DefaultPolicy>(detail::transposed_problem(p), aligned, aligned);
        EXPECT_TRUE(c.mma) << testbed::describe(p);
      }
  }
}

// Stride-1 NCHW dx runs the forward with pad_left negated: dy's columns at
// a fixed phase of the vector where dy's and dx's rows are whole vectors
// (fixed_x_shift), every phase of 4 and 2 lanes, dilation.
TEST_F(BackwardGpu, InputThroughFixedShift) {
  std::mt19937_64 rng(43);
  const void* aligned = reinterpret_cast<const void*>(uintptr_t(1) << 20);
  int i = 0, fixed = 0;
  for (int k : {3, 7})
    for (int dil : {1, 2})
      for (int pad : {1, 2, 3, 6})
        for (int64_t w : {int64_t(4), int64_t(40)}) {
          Problem p;
          p.n = 2;
          p.c = 70;
          p.k = k;
          p.dilation_h = dil;
          p.h = 20 + 7 * (i % 5);
          p.w = w;
          p.pad_top = p.pad_bottom = (k - 1) * dil / 2;
          p.pad_left = pad;
          p.pad_right = testbed::fixed_shift_pad_right(pad, i);
          ++i;
          Options o;
          o.integers = i % 2 == 0;
          EXPECT_EQ(run_dx(p, rng, o), "") << testbed::describe(p);
          fixed += detail::choose_kernel<T, DefaultPolicy>(detail::transposed_problem(p), aligned, aligned).fixed_shift;
        }
  if (detail::kWindowFixedShift<T, 3, Layout::NCHW>)
    EXPECT_GE(fixed, 20);
  else
    EXPECT_EQ(fixed, 0);
}

// A problem of the tensor-core dw tests, its pads set by the case number
// i: top K - 1 or (K - 1) / 2, bottom (K - 1) / 2 or none.
Problem dw_tile_problem(Layout layout, int i, int k, int64_t n, int64_t c, int64_t h, int64_t w, int pad,
                        int pad_right) {
  Problem p;
  p.layout = layout;
  p.n = n;
  p.c = c;
  p.k = k;
  p.h = h;
  p.w = w;
  p.pad_top = i % 2 ? (k - 1) / 2 : k - 1;
  p.pad_bottom = i % 3 ? (k - 1) / 2 : 0;
  p.pad_left = pad;
  p.pad_right = pad_right;
  return p;
}

// dw on tensor cores (2-byte NCHW, stride 1, dilation 1): every K of the
// table; rows shorter than a strip, of odd length, ending mid-strip or on a
// strip; odd and even left pads and unequal right pads (the padding columns
// sum into dbias on CUDA cores); heights under a tile, several tiles a
// plane and several planes a chunk; odd pointers (the bands at odd
// parity). The plan must take every problem, so none passes through
// another kernel.
TEST_F(BackwardGpu, WeightThroughTensorCores) {
  if constexpr (sizeof(T) != 2) {
    GTEST_SKIP() << "tensor-core tiles are for 2-byte types";
  } else {
    std::mt19937_64 rng(67);
    int i = 0;
    for (int k : detail::kStaticKernelHeights)
      for (int64_t w : {int64_t(3), int64_t(16), int64_t(37), int64_t(56), int64_t(130)})
        for (auto [pad, pad_right] : {std::pair{0, 0}, std::pair{1, 1}, std::pair{2, 5}, std::pair{7, 0}}) {
          const Problem p = dw_tile_problem(Layout::NCHW, i, k, 1 + i % 3, 1 + i % 4,
                                            i % 3 == 0 ? 5 + i % 7 : 40 + 23 * (i % 5), w, pad, pad_right);
          ++i;
          if (p.out_h() < 1) continue;
          Options o;
          o.integers = i % 3 != 0;
          o.odd_pointers = i % 4 == 0;
          o.dw_kernel = WeightGradKernel::kTensorCores;
          EXPECT_EQ(run_dw(p, rng, o, i % 5 != 0), "") << testbed::describe(p);
          detail::WeightGradPlan plan;
          EXPECT_TRUE(detail::plan_weight_grad_mma<T>(p, i % 2 == 0, i % 3 == 0, 128, plan)) << testbed::describe(p);
        }
    // K = 31 at W = 512 (8 warps, the tall budget), a plane of several
    // tiles and a part.
    Problem p;
    p.layout = Layout::NCHW;
    p.n = 2;
    p.c = 3;
    p.k = 31;
    p.h = 100;
    p.w = 512;
    p.pad_top = p.pad_bottom = 15;
    p.pad_left = p.pad_right = 15;
    Options o;
    o.dw_kernel = WeightGradKernel::kTensorCores;
    EXPECT_EQ(run_dw(p, rng, o, true), "") << testbed::describe(p);
    o.integers = false;
    EXPECT_EQ(run_dw(p, rng, o, true), "") << testbed::describe(p);
    detail::WeightGradPlan plan;
    ASSERT_TRUE(detail::plan_weight_grad_mma<T>(p, true, false, 256, plan));
    EXPECT_GT(plan.params.bands_per_plane, 1);
    EXPECT_NE(p.out_h() % plan.params.tile_rows, 0);
  }
}

// dw on the NCHW tensor-core tile with chunks of several pieces, which at
// K >= 15 carry a band's last K - 1 x rows in shared memory into the next
// band of the same plane: K15 and K31, rows of whole vectors (boxed, which
// carry; 64 and 136 wide, the latter ending mid-strip) and odd pointers
// (contiguous bands, which do not); chunks that start mid-plane, cross
// from one image to the next and end on a part band; top pads of 0 and
// K - 1, and a bottom pad that puts the last carried rows below the plane
// (zeros carried).
TEST_F(BackwardGpu, WeightTensorCoreChunksCarryTheHalo) {
  if constexpr (sizeof(T) != 2) {
    GTEST_SKIP() << "tensor-core tiles are for 2-byte types";
  } else {
    std::mt19937_64 rng(71);
    int i = 0, shape = 0;
    for (int k : {15, 31})
      for (int64_t w : {int64_t(64), int64_t(136)})
        for (int64_t per_chunk : {int64_t(2), int64_t(3)}) {
          Problem p;
          p.layout = Layout::NCHW;
          p.n = 3;
          p.c = 56;
          p.k = k;
          p.w = w;
          p.pad_top = shape++ % 2 ? k - 1 : 0;
          p.pad_bottom = (k - 1) / 2;
          p.pad_left = p.pad_right = (k - 1) / 2;
          // 101 dy rows in 168 planes: enough rows for 32-row bands
          // (kStagedMinTiles caps smaller problems at 16, which carry nothing
          // at K31), so three bands and a part band of 5 rows a plane.
          p.h = 101 + p.k - 1 - p.pad_top - p.pad_bottom;
          detail::WeightGradPlan plan;
          ASSERT_TRUE(detail::plan_weight_grad_mma<T>(p, true, false, 256, plan)) << testbed::describe(p);
          ASSERT_EQ(plan.params.tile_rows, 32) << testbed::describe(p);
          ASSERT_EQ(plan.params.bands_per_plane, 4) << testbed::describe(p);
          for (bool odd : {false, true}) {
            Options o;
            o.integers = i % 2 == 0;
            o.odd_pointers = odd;
            o.dw_mma_pieces_per_chunk = per_chunk;
            EXPECT_EQ(run_dw(p, rng, o, i % 3 != 0), "") << testbed::describe(p) << " pieces a chunk " << per_chunk;
            ++i;
          }
        }
  }
}

// dw on the NCHW plane tile (2-byte, stride 1, dilation 1, x rows an odd
// number of 16-byte vectors, small planes): every K of the table; x rows of
// 8, 24 and 56 (a strip that ends mid-row, one that ends on it); zero, odd
// and unequal pads (dy columns that meet no x column sum into dbias alone;
// top pads past K - 1); heights under one 16-row block and ending
// mid-block. C = 300 gives grids of many waves; the default chunks (a plane
// a block, one buffer), explicit chunks of 1 and of 3 images (a block walks
// three planes through two buffers, the last chunk short where N is not a
// multiple of 3).
TEST_F(BackwardGpu, WeightThroughPlaneTensorCores) {
  if constexpr (sizeof(T) != 2) {
    GTEST_SKIP() << "tensor-core tiles are for 2-byte types";
  } else {
    std::mt19937_64 rng(79);
    const void* aligned = reinterpret_cast<const void*>(uintptr_t(1) << 20);
    int i = 0, taken = 0;
    for (int k : detail::kStaticKernelHeights)
      for (int64_t w : {int64_t(8), int64_t(24), int64_t(56)})
        for (auto [pt, pb, pl, pr] :
             {std::tuple{0, 0, 0, 0}, std::tuple{1, 1, 1, 1}, std::tuple{k - 1, 0, 3, 2}, std::tuple{k + 2, 1, 0, 8}}) {
          Problem p;
          p.layout = Layout::NCHW;
          p.n = 2 + i % 3;
          p.c = i % 4 == 0 ? 300 : 3;
          p.k = k;
          p.pad_top = pt;
          p.pad_bottom = pb;
          p.pad_left = pl;
          p.pad_right = pr;
          // Heights whose dy planes are whole 16-byte vectors: out_h a multiple of 8.
          const int64_t out_h = i % 2 ? 8 : 40;
          p.h = out_h + k - 1 - pt - pb;
          p.w = w;
          ++i;
          detail::WeightGradPlan plan;
          if (p.h < 1 || !detail::plan_weight_grad_mma_plane<T>(p, aligned, aligned, plan)) continue;
          ++taken;
          for (int64_t per_chunk : {int64_t(0), int64_t(1), int64_t(3)}) {
            if (per_chunk > 0 && i % 3 != 0) continue;
            Options o;
            o.integers = (i + per_chunk) % 2 == 0;
            o.dw_kernel = WeightGradKernel::kTensorCores;
            o.dw_plane_images_per_chunk = per_chunk;
            EXPECT_EQ(run_dw(p, rng, o, (i + per_chunk) % 3 != 0), "")
                << testbed::describe(p) << " images a chunk " << per_chunk;
          }
        }
    EXPECT_GE(taken, 50);
    // The benchmark's shape, scaled down: W = 56 with pad 1 (dy rows of 58).
    const Problem p = testbed::mobile_56x56_problem(4, 64);
    detail::WeightGradPlan plan;
    ASSERT_TRUE(detail::plan_weight_grad_mma_plane<T>(p, aligned, aligned, plan));
    Options o;
    o.dw_kernel = WeightGradKernel::kDefault;
    EXPECT_EQ(run_dw(p, rng, o, true), "") << testbed::describe(p);
    o.integers = false;
    EXPECT_EQ(run_dw(p, rng, o, true), "") << testbed::describe(p);
  }
}

// dw on the NHWC tensor-core tile (2-byte, stride 1, dilation 1, C a
// multiple of 64): every K of the table; widths under a step, ending
// mid-strip and on a step; heights under a row block and ending mid-block;
// zero, odd and unequal pads (dy columns that meet no x column sum into
// dbias alone). C = 64 and 128 give a chunk per step or two, so every step stages
// its column's lead rows; C = 256 and 384 leave a few chunks a channel
// group on the H100 (one block a multiprocessor), whose steps walk down
// columns and across them, starting mid-column.
TEST_F(BackwardGpu, WeightThroughNhwcTensorCores) {
  if constexpr (sizeof(T) != 2) {
    GTEST_SKIP() << "tensor-core tiles are for 2-byte types";
  } else {
    std::mt19937_64 rng(73);
    const void* aligned = reinterpret_cast<const void*>(uintptr_t(1) << 20);
    int i = 0;
    for (int k : detail::kStaticKernelHeights)
      for (auto [w, pad, pad_right] : {std::tuple{5, 0, 0}, std::tuple{30, 1, 1}, std::tuple{45, 7, 2}}) {
        const Problem p = dw_tile_problem(Layout::NHWC, i, k, 1 + i % 2, i % 3 == 0 ? 128 : 64, i % 2 ? 7 : 37 + 5 * i,
                                          w, pad, pad_right);
        ++i;
        if (p.out_h() < 1) continue;
        Options o;
        o.integers = i % 3 != 0;
        o.dw_kernel = WeightGradKernel::kTensorCores;
        EXPECT_TRUE(detail::mma_nhwc_weight_grad_applies<T>(p, aligned, aligned)) << testbed::describe(p);
        EXPECT_EQ(run_dw(p, rng, o, i % 4 != 0), "") << testbed::describe(p);
      }
    for (int64_t c : {256, 384})
      for (int k : {3, 7, 31}) {
        Problem p;
        p.layout = Layout::NHWC;
        p.n = 2;
        p.c = c;
        p.k = k;
        p.h = 200;
        p.w = 40;
        p.pad_top = p.pad_bottom = k / 2;
        p.pad_left = p.pad_right = 3;
        Options o;
        o.integers = k == 3;
        o.dw_kernel = WeightGradKernel::kTensorCores;
        EXPECT_EQ(run_dw(p, rng, o, true), "") << testbed::describe(p);
        detail::WeightGradPlan plan;
        detail::plan_weight_grad_mma_nhwc<T>(p, 132, plan);
        EXPECT_GT(plan.params.pieces_per_chunk, 1) << testbed::describe(p);
        EXPECT_NE(plan.params.pieces_per_chunk % plan.params.bands_per_plane, 0) << testbed::describe(p);
      }
  }
}

// Stride-1 dx in 2-byte NHWC runs the forward's NHWC tensor-core tile on
// dy where the table takes it (K >= 15): the transposed problem's padding is
// negative at the sides and, with pad_top > K - 1, at the top; pixels of dy
// that are not whole 8-pixel groups; 4-warp and whole-line (C = 64) blocks.
TEST_F(BackwardGpu, InputThroughNhwcTensorCores) {
  if constexpr (sizeof(T) != 2) {
    GTEST_SKIP() << "tensor-core tiles are for 2-byte types";
  } else {
    std::mt19937_64 rng(41);
    const void* aligned = reinterpret_cast<const void*>(uintptr_t(1) << 20);
    for (int k : {15, 31})
      for (int variant = 0; variant < 3; ++variant) {
        Problem p;
        p.layout = Layout::NHWC;
        p.n = 2;
        p.c = variant == 1 ? 64 : 32;  // 64: blocks over whole lines
        p.k = k;
        p.h = 3 * k + 7;
        p.w = variant == 1 ? 19 : 12;
        p.pad_top = variant == 0 ? k + 2 : k / 2;
        p.pad_bottom = variant == 0 ? k - 3 : k / 2;
        p.pad_left = variant == 2 ? 5 : 1;
        p.pad_right = variant == 2 ? 0 : 2;
        Options o;
        o.integers = variant != 1;
        EXPECT_EQ(run_dx(p, rng, o), "") << testbed::describe(p);
        const detail::KernelChoice c =
            detail::choose_kernel<T, DefaultPolicy>(detail::transposed_problem(p), aligned, aligned);
        EXPECT_TRUE(c.mma_nhwc) << testbed::describe(p);
      }
  }
}

// Stride-1 dx on the rolling kernel (tall kernels, rows no staged or
// tensor-core tile takes): the transposed problem's padding is negative at the sides and at
// the top (pad_top > K - 1), so runs start inside dy; dilation 2; odd
// pointers take single elements. Variant 3: fp32 NCHW dy rows of 400 at
// pad_left -1 take the forward's column strips (boxes start inside dy).
TEST_F(BackwardGpu, InputThroughRollingKernel) {
  std::mt19937_64 rng(37);
  const void* aligned = reinterpret_cast<const void*>(uintptr_t(1) << 20);
  int rolled = 0, strips = 0;
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (int k : {15, 31})
      for (int variant = 0; variant < 4; ++variant) {
        Problem p;
        p.layout = layout;
        p.n = 2;
        p.c = 4;
        p.k = k;
        p.h = 6 * k + 5;
        p.w = variant == 3 ? 398 : 20;
        p.pad_top = variant == 0 ? k + 2 : 2;
        p.pad_bottom = variant == 0 ? k - 3 : 1;
        p.pad_left = p.pad_right = variant == 1 ? 3 : (variant == 3 ? 1 : 0);
        p.dilation_h = variant == 2 ? 2 : 1;
        Options o;
        o.odd_pointers = variant == 1;
        o.integers = variant != 2;
        EXPECT_EQ(run_dx(p, rng, o), "") << testbed::describe(p);
        const char* base = static_cast<const char*>(aligned) + (o.odd_pointers ? sizeof(T) : 0);
        const detail::KernelChoice c =
            detail::choose_kernel<T, DefaultPolicy>(detail::transposed_problem(p), base, base);
        rolled += c.rolling;
        strips += c.staged_strip_cols > 0;
      }
  if (sizeof(T) == 8)
    EXPECT_EQ(rolled, 0);
  else
    EXPECT_GE(rolled, 8);
  EXPECT_EQ(strips, (detail::kStagedStrips<T, 31, Layout::NCHW> ? 2 : 0));
}

// Strided dx by residue (stride_h 2, dilation 1, K in the table): every
// static K and K < 2 (a residue with no taps); heights shorter than a
// thread's rows, odd and wide top padding, strides 1 to 3 along W, vector
// and single-element lanes (odd pointers, widths off the vector). Dilation
// 2, stride 4 and K = 2 take the gather kernel beside it.
TEST_F(BackwardGpu, InputThroughPolyphaseKernel) {
  std::mt19937_64 rng(41);
  int polyphase = 0, gathered = 0;
  std::vector<int> ks(std::begin(detail::kStaticKernelHeights), std::end(detail::kStaticKernelHeights));
  ks.push_back(2);
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (int k : ks)
      for (int variant = 0; variant < 6; ++variant) {
        Problem p;
        p.layout = layout;
        p.n = 2;
        p.c = layout == Layout::NHWC ? 16 : 3;
        p.k = k;
        p.stride_h = variant == 5 ? 4 : 2;
        p.stride_w = 1 + variant % 3;
        p.dilation_h = variant == 4 ? 2 : 1;
        p.h = variant == 1 ? 3 : 2 * k + 37;
        p.w = variant == 2 ? 37 : 64;
        p.pad_top = variant == 1 ? k + 3 : variant == 3 ? 2 * k + 1 : k / 2;
        p.pad_bottom = variant == 1 ? k : k / 2 + 1;
        p.pad_left = variant == 3 ? 3 : 1;
        p.pad_right = variant % 2;
        if (!validate(p).ok()) continue;
        Options o;
        o.odd_pointers = variant == 3;
        o.integers = variant != 2;
        EXPECT_EQ(run_dx(p, rng, o), "") << testbed::describe(p);
        const bool expect = p.stride_h == 2 && p.dilation_h == 1 && k != 2;
        EXPECT_EQ(detail::dx_is_polyphase(p), expect) << testbed::describe(p);
        (expect ? polyphase : gathered) += 1;
      }
  EXPECT_GE(polyphase, 50);
  EXPECT_GE(gathered, 20);
}

// NCHW stride 2 dx whose lanes read dy as shifted vectors (gather_dy_pairs):
// every left pad from 0 to 9 (each shift and base of the pairs), widths
// whose dy rows are and are not whole vectors (pairs across row ends), the
// last vector at the tensor's end, top pads that start mid-window, and odd
// pointers, which fall back to the gathers. Types whose table does not pair
// take the gathers throughout.
TEST_F(BackwardGpu, InputThroughPairedDy) {
  std::mt19937_64 rng(43);
  int i = 0, paired = 0;
  for (int k : {3, 5, 31})
    for (int pad = 0; pad <= 9; ++pad)
      for (int64_t w : {int64_t(16), int64_t(40), int64_t(64)}) {
        Problem p;
        p.layout = Layout::NCHW;
        p.n = 2;
        p.c = 1 + i % 3;
        p.k = k;
        p.stride_h = p.stride_w = 2;
        p.h = k == 31 ? 40 : 2 * k + 9 + i % 4;
        p.w = w;
        p.pad_top = (k - 1) / 2 + i % 2;
        p.pad_bottom = (k - 1) / 2;
        p.pad_left = pad;
        p.pad_right = (pad + i) % 3;
        ++i;
        if (!validate(p).ok()) continue;
        Options o;
        o.odd_pointers = i % 7 == 0;
        o.integers = i % 2 == 0;
        int vec = 0;
        detail::dispatch_static_k(
            k, [&](auto k_const) { vec = detail::kPolyphaseVec<T, decltype(k_const)::value, Layout::NCHW>; });
        const void* aligned = reinterpret_cast<const void*>(uintptr_t(256));
        const bool takes = detail::kPolyphasePairedDy<T, Layout::NCHW> && !o.odd_pointers &&
                           detail::strided_dx_vectorizable<T>(p, aligned, aligned, vec) &&
                           detail::polyphase_dy_pairs<T>(p, aligned, vec);
        paired += takes ? 1 : 0;
        EXPECT_EQ(run_dx(p, rng, o), "") << (takes ? "paired " : "") << testbed::describe(p);
      }
  if (detail::kPolyphasePairedDy<T, Layout::NCHW>)
    EXPECT_GE(paired, 30);
  else
    EXPECT_EQ(paired, 0);
}

// Stride_h 1 dw through the rolling kernel and, for the same problems, the
// staged or register tiles it replaced: every static K (K = 2 falls back),
// dilation 1-3, padding wider than the window, stride 2 along W, heights
// under K, and shares of rows from under one row a block to many runs (the
// grid is one wave of this GPU), with and without whole columns a block.
// NHWC: channel vectors from one to the whole block. NCHW: rows that
// vectors walk (widths and left pads in whole vectors) and rows they cannot
// (odd widths and pads, odd pointers), several images a block where rows
// are narrow.
TEST_F(BackwardGpu, WeightThroughRollingKernel) {
  std::mt19937_64 rng(41);
  std::vector<int> ks(std::begin(detail::kStaticKernelHeights), std::end(detail::kStaticKernelHeights));
  ks.push_back(2);
  constexpr int kV = kVecElems16<T>;
  int i = 0;
  for (Layout layout : {Layout::NHWC, Layout::NCHW})
    for (int k : ks)
      for (int dil : {1, 2, 3})
        for (int64_t c : {int64_t(8), int64_t(16) * kV, int64_t(4)}) {
          const bool nchw = layout == Layout::NCHW;
          Problem p;
          p.layout = layout;
          p.n = nchw ? 1 + i % 5 : 1 + i % 3;
          p.c = nchw ? c / 4 + 1 : c;
          p.k = k;
          p.dilation_h = dil;
          p.h = (i % 4 == 0) ? 1 + i % 5 : 20 + 7 * (i % 9);
          p.w = (i % 5 == 0) ? 3 : 10 + i % 13;
          p.pad_top = i % 2 ? (k - 1) * dil / 2 : (k - 1) * dil + 2;
          p.pad_bottom = i % 3 ? p.pad_top : 0;
          p.pad_left = p.pad_right = i % 3;
          p.stride_w = i % 4 == 3 ? 2 : 1;
          if (nchw && i % 3 == 1) {  // rows in whole vectors
            p.w = kV * (1 + i % 40);
            p.pad_left = p.pad_right = kV * (i % 2);
            p.stride_w = 1;
          }
          ++i;
          Options o;
          o.integers = i % 2 == 0;
          o.odd_pointers = nchw && i % 5 == 0;
          o.dw_kernel = WeightGradKernel::kRolling;
          EXPECT_EQ(run_dw(p, rng, o, i % 3 != 0), "") << testbed::describe(p);
          o.dw_kernel = WeightGradKernel::kStaged;
          EXPECT_EQ(run_dw(p, rng, o, true), "") << "staged " << testbed::describe(p);
          const int vec = detail::rolling_weight_grad_vec<T>(p);
          const bool in_table =
              std::find(std::begin(detail::kStaticKernelHeights), std::end(detail::kStaticKernelHeights), k) !=
              std::end(detail::kStaticKernelHeights);
          if (in_table && !(std::is_same<T, double>::value && k == 31) && (nchw || p.c % kV == 0))
            EXPECT_GT(vec, 0) << testbed::describe(p);
        }
  // Wide and short: more columns than the grid's blocks (NCHW: than a
  // channel's), so that each block walks whole columns side by side with
  // the others first, then a share of the columns past the rounds.
  for (Layout layout : {Layout::NHWC, Layout::NCHW}) {
    Problem p;
    p.layout = layout;
    p.n = 16;
    p.c = 64;
    p.k = 5;
    p.h = 12;
    p.w = 2700;
    p.pad_top = p.pad_bottom = 2;
    Options o;
    o.dw_kernel = WeightGradKernel::kRolling;
    EXPECT_EQ(run_dw(p, rng, o, true), "") << testbed::describe(p);
  }
  // Tall enough that blocks hold several runs and cut residues mid-way.
  for (Layout layout : {Layout::NHWC, Layout::NCHW})
    for (int dil : {1, 2}) {
      Problem p;
      p.layout = layout;
      p.n = 3;
      p.c = 2 * kV;
      p.k = 5;
      p.dilation_h = dil;
      p.h = 2000;
      p.w = 37;
      p.pad_top = p.pad_bottom = 2 * dil;
      p.pad_left = p.pad_right = 1;
      Options o;
      EXPECT_EQ(run_dw(p, rng, o, true), "") << testbed::describe(p);
      o.integers = false;
      EXPECT_EQ(run_dw(p, rng, o, false), "") << testbed::describe(p);
    }
}

// NCHW rows off the vector read as shifted vectors (two aligned vectors a
// row and a funnel): odd left pads, pads wider than a vector, odd widths,
// rows shorter than a vector, dilation, heights under K, several images a
// block; tensors a whole number of vectors long (C a multiple of the
// lanes), so that the kernel takes them. Odd pointers fall back. kRolling
// takes shifted vectors at any height where the table has them for (T, K);
// the default only on columns of kRollingNchwShiftedRows rows, which every
// fifth problem has. Types whose table has none take one lane or the
// staged tile here.
TEST_F(BackwardGpu, WeightThroughShiftedVectors) {
  std::mt19937_64 rng(53);
  int i = 0, by_default = 0, by_rolling = 0;
  for (int k : {1, 3, 5, 7, 9})
    for (int dil : {1, 2})
      for (int pad : {1, 3, 5, 10})
        for (int64_t w : {int64_t(3), int64_t(7), int64_t(13), int64_t(37)}) {
          Problem p;
          p.layout = Layout::NCHW;
          p.n = 1 + i % 3;
          p.c = 2 * kVecElems16<T>;
          p.k = k;
          p.dilation_h = dil;
          p.h = i % 5 == 0 ? 1 + i % 3 : (i % 5 == 1 ? 128 * dil + i % 4 : 12 + 5 * (i % 7));
          p.w = w;
          p.pad_top = p.pad_bottom = (k - 1) * dil / 2 + i % 2;
          p.pad_left = pad;
          p.pad_right = (i % 3 == 0) ? pad : pad + 1;
          ++i;
          Options o;
          o.integers = i % 2 == 0;
          o.odd_pointers = i % 11 == 0;
          const int vec = detail::rolling_weight_grad_vec<T>(p);
          const void* aligned = reinterpret_cast<const void*>(uintptr_t(256));
          const bool fits = vec > 1 && !o.odd_pointers && !detail::vectorizable<T>(p, aligned, aligned, vec) &&
                            detail::rolling_weight_grad_shifted_fits<T>(p, aligned, aligned, vec);
          const bool takes = fits && detail::rolling_weight_grad_nchw_shifted<T>(p, false);
          by_default += takes ? 1 : 0;
          EXPECT_EQ(run_dw(p, rng, o, i % 3 != 0), "") << (takes ? "shifted " : "") << testbed::describe(p);
          o.dw_kernel = WeightGradKernel::kRolling;
          by_rolling += fits && detail::rolling_weight_grad_nchw_shifted<T>(p, true) ? 1 : 0;
          EXPECT_EQ(run_dw(p, rng, o, true), "") << "kRolling " << testbed::describe(p);
        }
  if (detail::DefaultWeightGradPolicy<T, 3, Layout::NCHW>::kRollingNchwShifted) {
    EXPECT_GE(by_rolling, 40) << "problems the shifted vectors took (kRolling)";
    EXPECT_GE(by_default, 8) << "problems the shifted vectors took (default)";
  } else {
    EXPECT_EQ(by_rolling, 0);
  }
}

// NCHW rows whose x and dy rows are whole vectors but for pad_left: x read
// at one fixed phase (weight_grad_rolling_kernel's Shift). Every phase of
// 4 and 2 lanes, pads wider than a vector, rows of one vector, heights
// under K, dilation, tall planes whose runs blocks cut mid-column. kRolling
// takes the fixed phase at any height where the table has it for (T, K);
// the default where a column's runs are long enough. Odd pointers fall back.
TEST_F(BackwardGpu, WeightThroughFixedShift) {
  std::mt19937_64 rng(71);
  int i = 0, by_rolling = 0;
  for (int k : {1, 3, 7, 31})
    for (int dil : {1, 2})
      for (int pad : {1, 2, 3, 6, 15})
        for (int64_t w : {int64_t(4), int64_t(6), int64_t(40)}) {
          Problem p;
          p.layout = Layout::NCHW;
          p.n = 1 + i % 3;
          p.c = 3;
          p.k = k;
          p.dilation_h = dil;
          p.h = i % 4 == 0 ? 1 + i % 3 : (i % 4 == 1 ? 300 + i % 7 : 10 + 3 * (i % 5));
          p.w = w;
          p.pad_top = p.pad_bottom = (k - 1) * dil / 2 + i % 2;
          p.pad_left = pad;
          p.pad_right = testbed::fixed_shift_pad_right(pad, i);
          ++i;
          Options o;
          o.integers = i % 2 == 0;
          o.odd_pointers = i % 7 == 0;
          const int vec = detail::rolling_weight_grad_vec<T>(p);
          const void* aligned = reinterpret_cast<const void*>(uintptr_t(256));
          const bool takes = vec > 1 && !o.odd_pointers && !detail::vectorizable<T>(p, aligned, aligned, vec) &&
                             detail::rolling_weight_grad_fixed_shift_vec<T>(p, aligned, aligned, vec, true) > 0;
          by_rolling += takes ? 1 : 0;
          EXPECT_EQ(run_dw(p, rng, o, i % 3 != 0), "") << (takes ? "fixed shift " : "") << testbed::describe(p);
          o.dw_kernel = WeightGradKernel::kRolling;
          EXPECT_EQ(run_dw(p, rng, o, true), "") << "kRolling " << testbed::describe(p);
        }
  if (detail::DefaultWeightGradPolicy<T, 3, Layout::NCHW>::kRollingNchwFixedShiftRows > 0)
    EXPECT_GE(by_rolling, 70) << "problems the fixed phase took (kRolling)";
  else
    EXPECT_EQ(by_rolling, 0);
}

// Wide problems split each plane into row chunks and column blocks, so
// that many partial sums meet in phase two; dilation with row steps.
TEST_F(BackwardGpu, ManySlotsAndRowSteps) {
  std::mt19937_64 rng(99);
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (int dil : {1, 2, 3}) {
      Problem p;
      p.layout = layout;
      p.n = 3;
      p.c = layout == Layout::NCHW ? 4 : 200;
      p.h = 300;
      p.w = layout == Layout::NCHW ? 1100 : 9;
      p.k = 5;
      p.dilation_h = dil;
      p.pad_top = p.pad_bottom = 2 * dil;
      Options o;
      EXPECT_EQ(run_dx(p, rng, o), "") << testbed::describe(p);
      EXPECT_EQ(run_dw(p, rng, o, true), "") << testbed::describe(p);
      o.integers = false;
      EXPECT_EQ(run_dw(p, rng, o, false), "") << testbed::describe(p);
    }
}

// Real-valued x and dy of a problem on the device, dw and dbias outputs,
// and the workspace backward_weight asks for: the bitwise tests' operands.
struct DwOperands {
  Problem p;
  DeviceBuffer b_x, b_dy, b_dw, b_db, b_ws;
  T *d_x = nullptr, *d_dy = nullptr;
  size_t ws_bytes = 0;

  // "" or what failed.
  std::string init(const Problem& problem, unsigned seed) {
    p = problem;
    std::mt19937_64 rng(seed);
    std::vector<T> x(size_t(p.x_elements())), dy(size_t(p.y_elements()));
    testbed::fill_random(x, rng, false, 1);
    testbed::fill_random(dy, rng, false, 1);
    DWCONV_TRY(upload(b_x, x, 0, &d_x));
    DWCONV_TRY(upload(b_dy, dy, 0, &d_dy));
    if (b_dw.allocate(size_t(p.w_elements()) * sizeof(T)) != cudaSuccess ||
        b_db.allocate(size_t(p.c) * sizeof(T)) != cudaSuccess)
      return "cudaMalloc";
    const Status s = backward_weight<T>(p, d_x, d_dy, b_dw.as<T>(), b_db.as<T>(), nullptr, &ws_bytes);
    if (!s.ok()) return s.message();
    return b_ws.allocate(ws_bytes) == cudaSuccess ? "" : "cudaMalloc";
  }
  Status run(cudaStream_t stream = nullptr) {
    return backward_weight<T>(p, d_x, d_dy, b_dw.as<T>(), b_db.as<T>(), b_ws.as<void>(), &ws_bytes, stream);
  }
  // dw and dbias as the last call left them; "" or what failed.
  std::string results(std::vector<T>* w_out, std::vector<T>* b_out) const {
    w_out->resize(size_t(p.w_elements()));
    b_out->resize(size_t(p.c));
    if (cudaMemcpy(w_out->data(), b_dw.as<T>(), w_out->size() * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess ||
        cudaMemcpy(b_out->data(), b_db.as<T>(), b_out->size() * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess)
      return "copy to host";
    return "";
  }
};

bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// The same real-valued inputs twice give bitwise the same dw and dbias.
TEST_F(BackwardGpu, WeightGradientIsDeterministic) {
  for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
    Problem p;
    p.layout = layout;
    p.n = 4;
    p.c = 24;
    p.h = 130;
    p.w = 96;
    p.k = 7;
    p.pad_top = p.pad_bottom = 3;
    p.pad_left = p.pad_right = 1;
    DwOperands ops;
    ASSERT_EQ(ops.init(p, 17), "");
    std::vector<T> first_w, first_b;
    for (int run = 0; run < 3; ++run) {
      // Different garbage in the workspace each run must not matter.
      DWCONV_CUDA_CHECK(cudaMemset(ops.b_ws.as<T>(), run * 77, ops.ws_bytes));
      const Status s = ops.run();
      ASSERT_TRUE(s.ok()) << s.message();
      std::vector<T> w_out, b_out;
      ASSERT_EQ(ops.results(&w_out, &b_out), "");
      if (run == 0) {
        first_w = w_out;
        first_b = b_out;
      } else {
        EXPECT_TRUE(same_bits(w_out, first_w)) << "dw run " << run;
        EXPECT_TRUE(same_bits(b_out, first_b)) << "dbias run " << run;
      }
    }
  }
}

// backward_weight captured in a CUDA graph (as training loops capture
// their steps) gives bitwise the results of a plain call, launch after
// launch: the rolling dw kernel's occupancy query at launch is legal under
// capture, and its grid, fixed at capture, is the plain call's.
TEST_F(BackwardGpu, WeightGradientInCudaGraph) {
  for (Layout layout : {Layout::NHWC, Layout::NCHW}) {
    Problem p;
    p.layout = layout;
    p.n = 3;
    p.c = 32;
    p.h = 150;
    p.w = 40;
    p.k = 5;
    p.pad_top = p.pad_bottom = 2;
    p.pad_left = p.pad_right = 1;
    DwOperands ops;
    ASSERT_EQ(ops.init(p, 23), "");
    ASSERT_TRUE(ops.run().ok());
    std::vector<T> plain_w, plain_b;
    ASSERT_EQ(ops.results(&plain_w, &plain_b), "");

    cudaStream_t stream;
    DWCONV_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    DWCONV_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    const Status s = ops.run(stream);
    DWCONV_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    ASSERT_TRUE(s.ok()) << s.message();
    DWCONV_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (int launch = 0; launch < 2; ++launch) {
      // On the graph's stream: a non-blocking stream does not wait for the
      // legacy default stream's memsets.
      DWCONV_CUDA_CHECK(cudaMemsetAsync(ops.b_dw.as<T>(), 0xFF, size_t(p.w_elements()) * sizeof(T), stream));
      DWCONV_CUDA_CHECK(cudaMemsetAsync(ops.b_ws.as<T>(), launch * 55, ops.ws_bytes, stream));
      DWCONV_CUDA_CHECK(cudaGraphLaunch(exec, stream));
      DWCONV_CUDA_CHECK(cudaStreamSynchronize(stream));
      std::vector<T> w_out, b_out;
      ASSERT_EQ(ops.results(&w_out, &b_out), "");
      EXPECT_TRUE(same_bits(w_out, plain_w)) << to_string(layout) << " dw, graph launch " << launch;
      EXPECT_TRUE(same_bits(b_out, plain_b)) << to_string(layout) << " dbias, graph launch " << launch;
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(stream);
  }
}

// N == 0: dx has no elements and nothing launches; dw and dbias are zero.
TEST_F(BackwardGpu, EmptyBatch) {
  Problem p;
  p.n = 0;
  p.c = 3;
  p.h = 5;
  p.w = 4;
  p.k = 3;
  DeviceBuffer b_w(9 * sizeof(T)), b_dw(9 * sizeof(T)), b_db(3 * sizeof(T)), b_ws;
  EXPECT_TRUE(backward_input<T>(p, nullptr, b_w.as<T>(), nullptr).ok());
  size_t ws_bytes = 0;
  ASSERT_TRUE(backward_weight<T>(p, nullptr, nullptr, b_dw.as<T>(), b_db.as<T>(), nullptr, &ws_bytes).ok());
  DWCONV_CUDA_CHECK(b_ws.allocate(ws_bytes));
  DWCONV_CUDA_CHECK(cudaMemset(b_dw.as<T>(), 0xFF, b_dw.bytes()));
  DWCONV_CUDA_CHECK(cudaMemset(b_db.as<T>(), 0xFF, b_db.bytes()));
  const Status s = backward_weight<T>(p, nullptr, nullptr, b_dw.as<T>(), b_db.as<T>(), b_ws.as<void>(), &ws_bytes);
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<T> dw(9), db(3);
  DWCONV_CUDA_CHECK(cudaMemcpy(dw.data(), b_dw.as<T>(), b_dw.bytes(), cudaMemcpyDeviceToHost));
  DWCONV_CUDA_CHECK(cudaMemcpy(db.data(), b_db.as<T>(), b_db.bytes(), cudaMemcpyDeviceToHost));
  for (const T& v : dw) EXPECT_EQ(testbed::as_double(v), 0.0);
  for (const T& v : db) EXPECT_EQ(testbed::as_double(v), 0.0);
}

// Central finite differences of L = <forward(x, w, b), g> computed on the
// GPU, against the GPU gradients dx, dw, dbias. L is linear in each operand,
// so in double the differences are exact up to rounding.
template <class U>
void finite_differences(std::false_type) {
  GTEST_SKIP() << "finite differences need double precision; the double binary runs them";
}

template <class U>
void finite_differences(std::true_type) {
  using T = U;
  std::mt19937_64 rng(31);
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (int trial = 0; trial < 6; ++trial) {
      const Problem p = [&] {
        for (;;) {
          Problem q = testbed::random_problem(rng, layout);
          if (q.n > 0) return q;
        }
      }();
      std::vector<T> x(size_t(p.x_elements())), w(size_t(p.w_elements())), b(size_t(p.c)), g(size_t(p.y_elements()));
      testbed::fill_random(x, rng, false, 1);
      testbed::fill_random(w, rng, false, 1);
      testbed::fill_random(b, rng, false, 1);
      testbed::fill_random(g, rng, false, 1);
      DeviceBuffer b_x, b_w, b_b, b_g, b_y(g.size() * sizeof(T)), b_dx(x.size() * sizeof(T)),
          b_dw(w.size() * sizeof(T)), b_db(b.size() * sizeof(T)), b_ws;
      T *d_x = nullptr, *d_w = nullptr, *d_b = nullptr, *d_g = nullptr;
      ASSERT_EQ(upload(b_x, x, 0, &d_x), "");
      ASSERT_EQ(upload(b_w, w, 0, &d_w), "");
      ASSERT_EQ(upload(b_b, b, 0, &d_b), "");
      ASSERT_EQ(upload(b_g, g, 0, &d_g), "");
      auto loss = [&]() {
        EXPECT_TRUE(forward<T>(p, d_x, d_w, d_b, b_y.as<T>()).ok());
        std::vector<T> y(g.size());
        EXPECT_EQ(cudaMemcpy(y.data(), b_y.as<T>(), y.size() * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
        double l = 0;
        for (size_t i = 0; i < y.size(); ++i) l += double(y[i]) * double(g[i]);
        return l;
      };
      ASSERT_TRUE(backward_input<T>(p, d_g, d_w, b_dx.as<T>()).ok());
      size_t ws_bytes = 0;
      ASSERT_TRUE(backward_weight<T>(p, d_x, d_g, b_dw.as<T>(), b_db.as<T>(), nullptr, &ws_bytes).ok());
      DWCONV_CUDA_CHECK(b_ws.allocate(ws_bytes));
      ASSERT_TRUE(backward_weight<T>(p, d_x, d_g, b_dw.as<T>(), b_db.as<T>(), b_ws.as<void>(), &ws_bytes).ok());
      std::vector<T> dx(x.size()), dw(w.size()), db(b.size());
      DWCONV_CUDA_CHECK(cudaMemcpy(dx.data(), b_dx.as<T>(), dx.size() * sizeof(T), cudaMemcpyDeviceToHost));
      DWCONV_CUDA_CHECK(cudaMemcpy(dw.data(), b_dw.as<T>(), dw.size() * sizeof(T), cudaMemcpyDeviceToHost));
      DWCONV_CUDA_CHECK(cudaMemcpy(db.data(), b_db.as<T>(), db.size() * sizeof(T), cudaMemcpyDeviceToHost));

      // Scale of the rounding: sum |y * g| bounds every term of L.
      double scale = 0;
      for (size_t i = 0; i < g.size(); ++i) scale += std::fabs(double(g[i]));
      const double h = 1e-3, tol = 1e-9 * (scale + 1.0) / h;
      auto check = [&](std::vector<T>& host, T* dev, const std::vector<T>& grad, const char* name) {
        for (int s = 0; s < 4; ++s) {
          const size_t i = size_t(rng() % host.size());
          const T saved = host[i];
          host[i] = saved + h;
          ASSERT_EQ(cudaMemcpy(dev + i, &host[i], sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
          const double up = loss();
          host[i] = saved - h;
          ASSERT_EQ(cudaMemcpy(dev + i, &host[i], sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
          const double down = loss();
          host[i] = saved;
          ASSERT_EQ(cudaMemcpy(dev + i, &host[i], sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
          EXPECT_NEAR((up - down) / (2 * h), double(grad[i]), tol) << name << "[" << i << "] " << testbed::describe(p);
        }
      };
      check(x, d_x, dx, "dx");
      check(w, d_w, dw, "dw");
      check(b, d_b, db, "dbias");
    }
}

TEST_F(BackwardGpu, FiniteDifferencesInDouble) { finite_differences<T>(std::is_same<T, double>{}); }

}  // namespace
}  // namespace dwconv
