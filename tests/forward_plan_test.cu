// Host checks of the forward plan, no GPU needed: which kernel and tiling a
// problem gets, and that staged tiles fit the shared memory the kernel
// assumes (forward_staged_kernel.cuh indexes the bands without bounds).
#include <gtest/gtest.h>

#include <cstdint>
#include <dwconv/dwconv.cuh>
#include <random>

#include "testbed.hpp"

namespace dwconv {
namespace {

// Any 256-byte-aligned address: the plan only looks at alignment.
const void* const kAligned = reinterpret_cast<const void*>(uintptr_t(1) << 20);

Problem tall_problem(int64_t w) {
  Problem p;
  p.n = 8;
  p.c = 64;
  p.h = 512;
  p.w = w;
  p.k = 31;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 15;
  return p;
}

// K = 31 with padding along W: fp16 on CUDA cores stages one 32-row unit in
// more than 48 KiB; fp32 cannot, and its scalar fallback walks 16 rows, not
// the tall policy's 32.
TEST(ForwardPlan, TallKernelsStageOrWalkSixteenScalarRows) {
  const Problem p = tall_problem(512);
  const detail::KernelChoice h = detail::choose_kernel<__half, DefaultTable<false>>(p, kAligned, kAligned);
  EXPECT_TRUE(h.staged);
  EXPECT_FALSE(h.mma);
  EXPECT_EQ(h.rows_per_thread, 32);
  EXPECT_GT(h.smem_bytes, 48 * 1024);
  EXPECT_LE(h.smem_bytes, detail::kStagedTallSmemBudget);

  const detail::KernelChoice f = detail::choose_kernel<float, DefaultPolicy>(p, kAligned, kAligned);
  EXPECT_FALSE(f.staged);
  EXPECT_EQ(f.vec_elems, 1);
  EXPECT_EQ(f.rows_per_thread, 16);

  const detail::KernelChoice wide =
      detail::choose_kernel<__half, DefaultPolicy>(tall_problem(12001), kAligned, kAligned);
  EXPECT_FALSE(wide.staged);
  EXPECT_EQ(wide.rows_per_thread, 16);
}

// The same problem on tensor cores (the default at K = 31): 32-row tiles,
// two a multiprocessor, the band pitched for ldmatrix. Its dx (dy rows of
// 542 elements), rows off the vector and odd x pointers take the
// contiguous band. K = 3 and 9 in the default table, strides, dilation and
// wider types stay off; an explicit policy takes tensor cores at any K.
TEST(ForwardPlan, TensorCoreTiles) {
  const Problem p = tall_problem(512);
  const detail::KernelChoice h = detail::choose_kernel<__half, DefaultPolicy>(p, kAligned, kAligned);
  EXPECT_TRUE(h.mma && h.staged && h.mma_aligned_rows);
  EXPECT_EQ(h.staged_tile_rows, 32);
  EXPECT_GT(2 * (h.smem_bytes + 1024), 228 * 1024 / 2);
  EXPECT_LE(2 * (h.smem_bytes + 1024), 228 * 1024);
  const detail::KernelChoice dx =
      detail::choose_kernel<__nv_bfloat16, DefaultPolicy>(detail::transposed_problem(p), kAligned, kAligned);
  EXPECT_TRUE(dx.mma && !dx.mma_aligned_rows);
  Problem k9 = p;
  k9.w = 256;
  k9.k = 9;
  k9.pad_top = k9.pad_bottom = k9.pad_left = k9.pad_right = 4;
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultPolicy>(k9, kAligned, kAligned).mma));
  EXPECT_TRUE((detail::choose_kernel<__half, TilePolicy<128, 16, 8>>(k9, kAligned, kAligned).mma));
  EXPECT_FALSE((detail::choose_kernel<float, DefaultPolicy>(p, kAligned, kAligned).mma));
  const char* odd = static_cast<const char*>(kAligned) + 2;
  const detail::KernelChoice odd_x = detail::choose_kernel<__half, DefaultPolicy>(p, odd, kAligned);
  EXPECT_TRUE(odd_x.mma && !odd_x.mma_aligned_rows);
  Problem q = p;
  q.w = 507;
  const detail::KernelChoice odd_w = detail::choose_kernel<__half, DefaultPolicy>(q, kAligned, kAligned);
  EXPECT_TRUE(odd_w.mma && !odd_w.mma_aligned_rows);
  q = p;
  q.dilation_h = 2;
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultPolicy>(q, kAligned, kAligned).mma));
  q = p;
  q.stride_w = 2;
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultPolicy>(q, kAligned, kAligned).mma));
}

// Every staged plan: whole units per tile, and bands as large as the kernel
// indexes them (input: every row the windows read plus two vectors of
// alignment room; output: whole tiles plus two vectors).
template <class T>
void check_staged_bands(std::mt19937_64& rng) {
  int staged = 0, mma = 0;
  for (int i = 0; i < 3000; ++i) {
    const Problem p = testbed::random_problem(rng, Layout::NCHW);
    if (!validate(p).ok() || p.n == 0) continue;
    // Tensor cores at every K, to check their plans as often as the others.
    const detail::KernelChoice c =
        rng() % 2 ? detail::choose_kernel<T, DefaultPolicy>(p, kAligned, kAligned)
                  : detail::choose_kernel<T, TilePolicy<128, 8, kVecElems16<T>>>(p, kAligned, kAligned);
    if (!c.staged) continue;
    ++staged;
    const int v = c.staged_vec;
    EXPECT_GE(v, 2) << testbed::describe(p);
    const int64_t tile = c.staged_tile_rows;
    EXPECT_EQ(tile % (int64_t(c.rows_per_thread) * c.row_step), 0) << testbed::describe(p);
    if (c.mma) {
      // Whole 16-row blocks of input covering the K - 1 + tile rows the
      // windows read, 16-column strips inside the pitch, and an output band
      // pitched or packed with alignment room.
      ++mma;
      EXPECT_EQ(tile % 16, 0) << testbed::describe(p);
      const int64_t band = (tile + p.k - 1 + 15) / 16 * 16;
      if (c.mma_aligned_rows) {
        const int pitch = detail::conflict_free_pitch(p.w);
        EXPECT_GE(pitch, (p.w + 15) / 16 * 16);
        EXPECT_EQ(pitch % 16, 8);
        EXPECT_GE(c.staged_in_elems, band * pitch) << testbed::describe(p);
      } else {
        // The contiguous band, its alignment room, and the last strip's
        // reach past the last row.
        EXPECT_GE(c.staged_in_elems, band * p.w + 2 * v + 16) << testbed::describe(p);
      }
      EXPECT_EQ(c.staged_in_elems % v, 0) << testbed::describe(p);
      const int64_t out_pitch = p.out_w() % 8 == 0 ? detail::conflict_free_pitch(p.out_w()) : p.out_w();
      EXPECT_GE(c.smem_bytes, (c.staged_in_elems + tile * out_pitch + 8) * int64_t(sizeof(T))) << testbed::describe(p);
      EXPECT_LE(c.smem_bytes, p.k >= detail::kStagedTallK ? detail::kMmaTallSmemBudget : detail::kStagedSmemBudget)
          << testbed::describe(p);
      continue;
    }
    const int64_t band_rows = (tile - 1) * p.stride_h + int64_t(p.k - 1) * p.dilation_h + 1;
    EXPECT_GE(c.staged_in_elems, band_rows * p.w + 2 * v) << testbed::describe(p);
    EXPECT_EQ(c.staged_in_elems % v, 0) << testbed::describe(p);
    EXPECT_GE(c.smem_bytes, (c.staged_in_elems + tile * p.out_w() + 2 * v) * int64_t(sizeof(T)))
        << testbed::describe(p);
    EXPECT_LE(c.smem_bytes, p.k >= detail::kStagedTallK ? detail::kStagedTallSmemBudget : detail::kStagedSmemBudget)
        << testbed::describe(p);
  }
  if (sizeof(T) == 2) EXPECT_GT(mma, 50);
  EXPECT_GT(staged, 100);
}

TEST(ForwardPlan, StagedBandsHoldWhatTheKernelIndexes) {
  std::mt19937_64 rng(99);
  check_staged_bands<float>(rng);
  check_staged_bands<__half>(rng);
}

}  // namespace
}  // namespace dwconv
