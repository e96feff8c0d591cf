// Host checks of the forward plan, no GPU needed: which kernel and tiling a
// problem gets, and that staged tiles fit the shared memory the kernel
// assumes (forward_staged_kernel.cuh indexes the bands without bounds).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <dwconv/dwconv.cuh>
#include <random>
#include <vector>

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

// The benchmark's 2-byte NHWC K = 9 case (4x32x4096x256, padding 4): the
// rolling kernel's, rows of 2112 vectors of 4.
Problem k9_problem() {
  Problem p;
  p.n = 4;
  p.c = 32;
  p.h = 4096;
  p.w = 256;
  p.k = 9;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 4;
  p.layout = Layout::NHWC;
  return p;
}

// A K = 3 NHWC problem at padding 1 on square images of `hw`, as the
// benchmark's seed-with-bias and 1x32x64x64 cases.
Problem k3_nhwc_problem(int64_t n, int64_t c, int64_t hw) {
  Problem p;
  p.layout = Layout::NHWC;
  p.n = n;
  p.c = c;
  p.h = p.w = hw;
  p.k = 3;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
  return p;
}

// K = 31 with padding along W, on a tall policy without the rolling kernel:
// fp16 on CUDA cores stages one 32-row unit in more than 48 KiB; fp32
// cannot, and its scalar fallback walks 16 rows, not the policy's 32.
TEST(ForwardPlan, TallKernelsStageOrWalkSixteenScalarRows) {
  using Tall = TilePolicy<128, 32, 4, true, 0>;
  const Problem p = tall_problem(512);
  const detail::KernelChoice h = detail::choose_kernel<__half, Tall>(p, kAligned, kAligned);
  EXPECT_TRUE(h.staged);
  EXPECT_FALSE(h.mma || h.rolling);
  EXPECT_EQ(h.rows_per_thread, 32);
  EXPECT_GT(h.smem_bytes, 48 * 1024);
  EXPECT_LE(h.smem_bytes, detail::kStagedTallSmemBudget);

  const detail::KernelChoice f = detail::choose_kernel<float, Tall>(p, kAligned, kAligned);
  EXPECT_FALSE(f.staged || f.rolling);
  EXPECT_EQ(f.vec_elems, 1);
  EXPECT_EQ(f.rows_per_thread, 16);

  const detail::KernelChoice wide = detail::choose_kernel<__half, Tall>(tall_problem(12001), kAligned, kAligned);
  EXPECT_FALSE(wide.staged);
  EXPECT_EQ(wide.rows_per_thread, 16);
}

// The default table walks tall kernels at stride 1 with the rolling kernel
// wherever no tensor-core or staged tile takes the problem: K = 31 one element a
// thread, K = 15 two. Runs split a column only to reach about 2^19 threads,
// never below 4 K rows, and never past the column; dilation walks each
// residue on its own.
TEST(ForwardPlan, RollingRuns) {
  const Problem p = tall_problem(512);  // 8 x 64 planes of 512 columns
  // x one element off the 16-byte vector: no column strips (StagedStrips).
  const void* x_odd = static_cast<const char*>(kAligned) + 4;
  const detail::KernelChoice f = detail::choose_kernel<float, DefaultPolicy>(p, x_odd, kAligned);
  EXPECT_TRUE(f.rolling);
  EXPECT_FALSE(f.staged || f.mma);
  EXPECT_EQ(f.vec_elems, 1);
  // 2^18 walkers: rows of 542 outputs (off the 32-byte sector) take four
  // runs a column (kRollingMinThreadsOffSector), rows on it (pad 16: 544)
  // two.
  EXPECT_EQ(f.rows_per_thread, 128);
  const detail::ForwardParams fp = detail::make_forward_params(p, f);
  EXPECT_EQ(fp.run_rows, 128);
  EXPECT_EQ(fp.units_per_plane, 4);
  Problem on_sector = p;
  on_sector.pad_left = on_sector.pad_right = 16;
  EXPECT_EQ((detail::choose_kernel<float, DefaultPolicy>(on_sector, x_odd, kAligned).rows_per_thread), 256);

  // Tensor cores and staged tiles keep the 2-byte NCHW rows they take.
  EXPECT_TRUE((detail::choose_kernel<__half, DefaultPolicy>(p, kAligned, kAligned).mma));
  const detail::KernelChoice simt = detail::choose_kernel<__half, DefaultTable<false>>(p, kAligned, kAligned);
  EXPECT_TRUE(simt.staged && !simt.rolling);

  // 2-byte NHWC rolls where its tensor-core tile does not run (here: off).
  Problem n = p;
  n.layout = Layout::NHWC;
  const detail::KernelChoice h = detail::choose_kernel<__nv_bfloat16, DefaultTable<false>>(n, kAligned, kAligned);
  EXPECT_TRUE(h.rolling);
  EXPECT_EQ(h.vec_elems, 1);
  EXPECT_EQ(h.rows_per_thread, 256);
  n.k = 15;
  n.pad_top = n.pad_bottom = 7;
  const detail::KernelChoice h15 = detail::choose_kernel<__half, DefaultTable<false>>(n, kAligned, kAligned);
  EXPECT_TRUE(h15.rolling);
  EXPECT_EQ(h15.vec_elems, 2);
  EXPECT_EQ(h15.rows_per_thread, 128);  // 2^17 walkers of two channels: four runs
  const char* odd = static_cast<const char*>(kAligned) + 2;
  EXPECT_EQ((detail::choose_kernel<__half, DefaultTable<false>>(n, odd, kAligned).vec_elems), 1);

  // A small problem: runs of 4 K rows.
  Problem s;
  s.n = 1;
  s.c = 4;
  s.h = 300;
  s.w = 8;
  s.k = 15;
  s.pad_top = s.pad_bottom = 7;
  EXPECT_EQ((detail::choose_kernel<float, DefaultPolicy>(s, kAligned, kAligned).rows_per_thread), 60);
  s.h = 40;  // shorter than 4 K: one run of the whole column
  EXPECT_EQ((detail::choose_kernel<float, DefaultPolicy>(s, kAligned, kAligned).rows_per_thread), 40);
  s.h = 300;
  s.dilation_h = 3;
  s.pad_top = s.pad_bottom = 21;
  const detail::KernelChoice d = detail::choose_kernel<float, DefaultPolicy>(s, kAligned, kAligned);
  EXPECT_TRUE(d.rolling);
  EXPECT_EQ(d.row_step, 3);
  EXPECT_EQ(d.rows_per_thread, 60);
  EXPECT_EQ(detail::make_forward_params(s, d).units_per_plane, 2 * 3);  // 100 rows a residue

  // Not rolled: strides, K below 15, double, and policies without it.
  Problem q = p;
  q.stride_h = 2;
  EXPECT_FALSE((detail::choose_kernel<float, DefaultPolicy>(q, kAligned, kAligned).rolling));
  q = p;
  q.k = 9;
  q.pad_top = q.pad_bottom = 4;
  EXPECT_FALSE((detail::choose_kernel<float, DefaultPolicy>(q, kAligned, kAligned).rolling));
  EXPECT_FALSE((detail::choose_kernel<double, DefaultPolicy>(p, kAligned, kAligned).rolling));
  EXPECT_FALSE((detail::choose_kernel<float, TilePolicy<128, 16, 4>>(p, kAligned, kAligned).rolling));
  EXPECT_TRUE((detail::choose_kernel<float, TilePolicy<128, 16, 4, true, 0, 4>>(q, kAligned, kAligned).rolling));
}

// Runs sized to whole waves of the resident blocks (rolling_wave_run): the
// model's choice on the benchmark's cases at the H100's residency, never a
// shorter run than the plan's, and the plan's own where it cannot say.
TEST(ForwardPlan, RollingWaveRuns) {
  const Problem k9 = k9_problem();
  const detail::KernelChoice h = detail::choose_kernel<__half, DefaultPolicy>(k9, kAligned, kAligned);
  ASSERT_TRUE(h.rolling);
  EXPECT_EQ(h.vec_elems, 4);
  EXPECT_EQ(h.rows_per_thread, 66);
  // 3 blocks of 128 a multiprocessor, 132 multiprocessors: 17 runs of 241
  // rows, 1156 blocks in 2.92 waves (f42's best side).
  EXPECT_EQ(detail::rolling_wave_run<__half>(k9, h, 396), 241);
  detail::KernelChoice w = h;
  w.rows_per_thread = 241;
  EXPECT_EQ(detail::make_forward_params(k9, w).tiles, 1156);
  EXPECT_EQ(detail::rolling_wave_run<__half>(k9, h, 0), 66);  // residency unknown
  // Its dx (the forward of the transposed problem): 18 runs of 228 rows in
  // 2.91 waves; one wave of 683 rows lost (kRollingWaveMinWaves).
  const Problem k9_dx = detail::transposed_problem(k9);
  const detail::KernelChoice hd = detail::choose_kernel<__half, DefaultPolicy>(k9_dx, kAligned, kAligned);
  ASSERT_TRUE(hd.rolling);
  EXPECT_EQ(hd.rows_per_thread, 64);
  EXPECT_EQ(detail::rolling_wave_run<__half>(k9_dx, hd, 396), 228);

  // fp32 K = 31 in NHWC keeps two runs a column (f24's best); NCHW rows off
  // the sector keep their four.
  Problem t = tall_problem(512);
  t.layout = Layout::NHWC;
  const detail::KernelChoice f = detail::choose_kernel<float, DefaultPolicy>(t, kAligned, kAligned);
  ASSERT_TRUE(f.rolling);
  EXPECT_EQ(detail::rolling_wave_run<float>(t, f, 396), 256);
  const void* x_odd = static_cast<const char*>(kAligned) + 4;
  const detail::KernelChoice off = detail::choose_kernel<float, DefaultPolicy>(tall_problem(512), x_odd, kAligned);
  ASSERT_TRUE(off.rolling);
  EXPECT_EQ(detail::rolling_wave_run<float>(tall_problem(512), off, 396), 128);
  // fp32 NCHW K = 15 dx (rows of 526 in, 512 out) at 6 blocks a
  // multiprocessor: one run a column saves the model under 5 % and lost.
  Problem k15 = tall_problem(512);
  k15.k = 15;
  k15.pad_top = k15.pad_bottom = k15.pad_left = k15.pad_right = 7;
  const Problem k15_dx = detail::transposed_problem(k15);
  const detail::KernelChoice fd = detail::choose_kernel<float, DefaultPolicy>(k15_dx, kAligned, kAligned);
  ASSERT_TRUE(fd.rolling);
  EXPECT_EQ(fd.rows_per_thread, 256);
  EXPECT_EQ(detail::rolling_wave_run<float>(k15_dx, fd, 6 * 132), 256);

  // Any problem and residency: a run between the plan's and its column's
  // (a residue's) rows, and the tiles it makes fit int grids.
  std::mt19937_64 rng(7);
  int rolled = 0, lengthened = 0;
  for (int i = 0; i < 2000; ++i) {
    Problem p;
    p.n = 1 + int64_t(rng() % 8);
    p.c = 8 * (1 + int64_t(rng() % 16));
    p.h = 1 + int64_t(rng() % 3000);
    p.w = 1 + int64_t(rng() % 300);
    p.k = (rng() % 2) ? 15 : 31;
    p.dilation_h = 1 + int(rng() % 3);
    p.pad_top = p.pad_bottom = int(rng() % 16);
    p.layout = (rng() % 2) ? Layout::NCHW : Layout::NHWC;
    if (!validate(p).ok()) continue;
    const detail::KernelChoice c = detail::choose_kernel<float, DefaultPolicy>(p, kAligned, kAligned);
    if (!c.rolling) continue;
    const int64_t resident = 1 + int64_t(rng() % 2000);
    const int run = detail::rolling_wave_run<float>(p, c, resident);
    ++rolled;
    lengthened += run > c.rows_per_thread;
    const int64_t per_residue = (p.out_h() + c.row_step - 1) / c.row_step;
    EXPECT_GE(run, c.rows_per_thread);
    EXPECT_LE(run, std::max<int64_t>(per_residue, c.rows_per_thread));
    detail::KernelChoice r = c;
    r.rows_per_thread = run;
    const detail::ForwardParams fp = detail::make_forward_params(p, r);
    EXPECT_LE(fp.tiles, detail::make_forward_params(p, c).tiles);
    EXPECT_EQ(fp.run_rows, run);
  }
  EXPECT_GT(rolled, 200);
  EXPECT_GT(lengthened, 20);
}

// NHWC register windows take fewer threads along a row where a row of the
// most would leave blocks nearly idle: 2-byte K = 3 at padding 1 (514
// vectors a row) on 16 threads a row, 8 units a block, 97 % of the lanes
// busy against 80 % at 128. Rows of a power of two keep 128, and so do
// NCHW rows, small problems and the rolling kernel whatever their width.
TEST(ForwardPlan, RowThreadsLeaveFewIdleLanes) {
  Problem p = k3_nhwc_problem(64, 8, 512);
  auto row_threads_log2 = [](const Problem& q, auto type) {
    using T = decltype(type);
    const detail::KernelChoice c = detail::choose_kernel<T, DefaultPolicy>(q, kAligned, kAligned);
    EXPECT_FALSE(c.staged || c.mma || c.mma_nhwc);
    return detail::make_forward_params(q, c).col_threads_log2;
  };
  const detail::KernelChoice h = detail::choose_kernel<__half, DefaultPolicy>(p, kAligned, kAligned);
  ASSERT_FALSE(h.rolling || h.staged || h.mma || h.mma_nhwc || h.small_rows);
  const detail::ForwardParams f = detail::make_forward_params(p, h);
  EXPECT_EQ(f.col_threads_log2, 4);
  EXPECT_EQ(f.col_blocks, 33);
  EXPECT_EQ(f.row_blocks, 8);
  Problem nchw = p;
  nchw.layout = Layout::NCHW;
  EXPECT_EQ(row_threads_log2(nchw, float{}), 7);  // 257 vectors of 2
  const Problem tiny = k3_nhwc_problem(1, 32, 64);
  EXPECT_TRUE((detail::choose_kernel<__half, DefaultPolicy>(tiny, kAligned, kAligned).small_rows));
  EXPECT_EQ(row_threads_log2(tiny, __half{}), 7);
  p.pad_left = p.pad_right = 0;
  EXPECT_EQ(row_threads_log2(p, __half{}), 7);
  const Problem k9 = k9_problem();  // rolling in 2-byte types
  const detail::KernelChoice r = detail::choose_kernel<__half, DefaultPolicy>(k9, kAligned, kAligned);
  ASSERT_TRUE(r.rolling);
  EXPECT_EQ(detail::make_forward_params(k9, r).col_threads_log2, 7);
  EXPECT_EQ(row_threads_log2(k9, float{}), 6);  // fp32 rows of 2112 vectors of 4: 64 a row

  // Any row and plane: within [least, most], and never more idle lanes
  // than the most threads a row leave.
  std::mt19937_64 rng(11);
  auto slots = [](int64_t groups, int64_t units, int threads_log2, int l) {
    const int64_t per_block = int64_t(1) << (threads_log2 - l);
    return ((groups + (int64_t(1) << l) - 1) >> l << l) * ((units + per_block - 1) / per_block * per_block);
  };
  for (int i = 0; i < 2000; ++i) {
    const int64_t groups = 1 + int64_t(rng() % 5000), units = 1 + int64_t(rng() % 600);
    const int threads_log2 = 5 + int(rng() % 4);
    const int most = std::min(detail::log2_ceil(groups), threads_log2);
    const int l = detail::row_threads_log2(groups, units, threads_log2, detail::kMinRowThreadsLog2);
    EXPECT_LE(l, most);
    EXPECT_GE(l, std::min(most, detail::kMinRowThreadsLog2));
    EXPECT_LE(slots(groups, units, threads_log2, l), slots(groups, units, threads_log2, most));
    EXPECT_EQ(detail::row_threads_log2(groups, units, threads_log2, threads_log2), most);
  }
}

// fp32 NCHW rows that no whole-row staged tile fits (K = 31 at pad 15: rows
// of 542 outputs) take staged tiles in column strips: about a column a
// thread, a 32-row unit within 48 KiB, y's strip rows at their global
// phase mod 4. x off the 16-byte vector or W off it roll instead; 2-byte
// types keep their tensor-core tiles, explicit policies their tilings.
TEST(ForwardPlan, StagedStrips) {
  const Problem p = tall_problem(512);
  const detail::KernelChoice f = detail::choose_kernel<float, DefaultPolicy>(p, kAligned, kAligned);
  ASSERT_TRUE(f.staged);
  EXPECT_FALSE(f.rolling || f.staged_pairs);
  EXPECT_EQ(f.threads, detail::kStagedStripThreads);
  EXPECT_EQ(f.staged_strip_cols, 109);  // five strips of 542
  EXPECT_EQ(f.staged_in_pitch, 112);    // 108 + 4 columns, whole vectors
  EXPECT_EQ(f.staged_out_pitch % 4, 542 % 4);
  EXPECT_GE(f.staged_out_pitch, 109);
  EXPECT_EQ(f.staged_tile_rows, 32);
  EXPECT_EQ(f.staged_vec, 4);
  EXPECT_LE(f.smem_bytes, detail::kStagedSmemBudget);
  EXPECT_EQ(f.staged_in_elems, 62 * 112);
  const detail::ForwardParams fp = detail::make_forward_params(p, f);
  EXPECT_EQ(fp.col_blocks, 5);
  EXPECT_EQ(fp.row_blocks, 16);
  EXPECT_EQ(fp.tiles, 8 * 64 * 16 * 5);
  EXPECT_EQ(fp.strip_cols, 109);
  EXPECT_EQ(fp.strip_run, detail::kStagedStripRun);

  // dx's transposed problem at W = 512: dy rows of 542 (off the vector) roll.
  EXPECT_EQ((detail::choose_kernel<float, DefaultPolicy>(tall_problem(510), kAligned, kAligned).staged_strip_cols), 0);
  const void* x_odd = static_cast<const char*>(kAligned) + 4;
  EXPECT_TRUE((detail::choose_kernel<float, DefaultPolicy>(p, x_odd, kAligned).rolling));
  EXPECT_TRUE((detail::choose_kernel<__half, DefaultPolicy>(p, kAligned, kAligned).mma));
  EXPECT_EQ((detail::choose_kernel<double, DefaultPolicy>(p, kAligned, kAligned).staged_strip_cols), 0);
  EXPECT_EQ((detail::choose_kernel<float, TilePolicy<128, 32, 2>>(p, kAligned, kAligned).staged_strip_cols), 0);

  // Stride 2 both ways: rows of 271 in three strips of 91 columns, each
  // box (91 - 1) * 2 + 4 = 184 columns.
  Problem s = p;
  s.stride_h = s.stride_w = 2;
  const detail::KernelChoice f2 = detail::choose_kernel<float, DefaultPolicy>(s, kAligned, kAligned);
  EXPECT_EQ(f2.staged_strip_cols, 91);
  EXPECT_EQ(f2.staged_in_pitch, 184);
}

// The NCHW tensor-core tile's band ring: at K >= kMmaBandRingMinK on
// pitched rows and on the contiguous band (rows off the 16-byte vector).
TEST(ForwardPlan, TensorCoreBandRing) {
  Problem p;
  p.n = 8;
  p.c = 64;
  p.h = p.w = 512;
  p.k = 31;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 15;
  auto choice = [&](const Problem& q) { return detail::choose_kernel<__half, DefaultPolicy>(q, kAligned, kAligned); };
  detail::KernelChoice c = choice(p);
  EXPECT_TRUE(c.mma && c.mma_aligned_rows && c.mma_band_ring);
  EXPECT_EQ(c.staged_tile_rows, 32);
  Problem q = p;
  q.w = 542;  // K31 dx's dy rows: contiguous, 32-row tiles under 64 band rows
  c = choice(q);
  EXPECT_TRUE(c.mma && !c.mma_aligned_rows && c.mma_band_ring);
  EXPECT_EQ(c.staged_tile_rows, 32);
  q.k = 15;
  q.pad_top = q.pad_bottom = 7;
  c = choice(q);  // a band one block over the tile: the ring's runs wrap
  EXPECT_TRUE(c.mma && !c.mma_aligned_rows && c.mma_band_ring);
  q.w = 512;
  EXPECT_TRUE(choice(q).mma_band_ring);
  q.k = 9;
  q.pad_top = q.pad_bottom = 4;
  EXPECT_FALSE(choice(q).mma_band_ring);
}

// 2-byte NHWC at stride 1 and dilation 1 on the NHWC tensor-core tile, where
// the table takes it: blocks over whole 128-byte lines (64 channels) where
// C allows, else 4 warps; its tiles are 16-row output blocks (a column
// of them per image, 8 pixels and channel block), which the launch deals
// in equal shares of at least kMmaNhwcMinRunSteps blocks a k-step reads
// ahead (rows_per_thread: 16 rows a block). Strides, dilation, channels
// off the block's multiple, odd pointers, fp32 and the table without
// tensor cores take other kernels.
TEST(ForwardPlan, NhwcTensorCoreRuns) {
  Problem p = tall_problem(512);  // 8 x 542 output pixels x 64 channels, 512 rows
  p.layout = Layout::NHWC;
  constexpr int kCh = detail::DefaultTilePolicy<__half, 31, Layout::NHWC>::type::kNhwcTensorChannels;
  if (kCh == 0) GTEST_SKIP() << "the table does not take the NHWC tensor-core tile";
  const detail::KernelChoice c = detail::choose_kernel<__half, DefaultPolicy>(p, kAligned, kAligned);
  EXPECT_TRUE(c.mma_nhwc);
  EXPECT_FALSE(c.rolling || c.staged || c.mma);
  EXPECT_EQ(c.vec_elems, kCh);
  const int warps = detail::kMmaNhwcLineChannels / kCh;  // C = 64: one line a block
  EXPECT_EQ(c.threads, 32 * warps);
  EXPECT_EQ(c.smem_bytes, (detail::MmaNhwcSmem{64, 31}.bytes()));
  EXPECT_EQ(c.rows_per_thread, 16 * detail::kMmaNhwcMinRunSteps * (detail::mma_k_steps(31) - 1));
  const detail::ForwardParams f = detail::make_forward_params(p, c);
  EXPECT_EQ(f.col_blocks, 68);
  EXPECT_EQ(f.row_blocks, 32);
  EXPECT_EQ(f.tiles, 8 * 32 * 68);
  Problem narrow = p;  // 48 channels: 4-warp blocks of 16 channels
  narrow.c = 48;
  const detail::KernelChoice nc = detail::choose_kernel<__half, DefaultPolicy>(narrow, kAligned, kAligned);
  EXPECT_TRUE(nc.mma_nhwc);
  EXPECT_EQ(nc.threads, 32 * detail::kMmaNhwcWarps);
  EXPECT_EQ(nc.smem_bytes, (detail::MmaNhwcSmem{detail::kMmaNhwcWarps * kCh, 31}.bytes()));
  EXPECT_EQ(detail::make_forward_params(narrow, nc).tiles,
            8 * detail::make_forward_params(narrow, nc).row_blocks * 68 * (48 / (detail::kMmaNhwcWarps * kCh)));

  Problem s = p;
  s.n = 0;  // no images: a plan all the same, and no tiles
  const detail::KernelChoice none = detail::choose_kernel<__half, DefaultPolicy>(s, kAligned, kAligned);
  EXPECT_TRUE(none.mma_nhwc);
  EXPECT_EQ(detail::make_forward_params(s, none).tiles, 0);

  Problem q = p;
  q.stride_w = 2;
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultPolicy>(q, kAligned, kAligned).mma_nhwc));
  q = p;
  q.dilation_h = 2;
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultPolicy>(q, kAligned, kAligned).mma_nhwc));
  q = p;
  q.c = 66;
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultPolicy>(q, kAligned, kAligned).mma_nhwc));
  const char* odd = static_cast<const char*>(kAligned) + 2;
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultPolicy>(p, odd, kAligned).mma_nhwc));
  EXPECT_FALSE((detail::choose_kernel<float, DefaultPolicy>(p, kAligned, kAligned).mma_nhwc));
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultTable<false>>(p, kAligned, kAligned).mma_nhwc));
  p.layout = Layout::NCHW;
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultPolicy>(p, kAligned, kAligned).mma_nhwc));
}

// One wave's shares (the rest of a wave_walk past its rounds): in order,
// each block's begins where the one before ends, the first total % grid
// one tile longer, together every tile once.
TEST(ForwardPlan, WaveShares) {
  for (int64_t total : {0, 1, 7, 131, 132, 133, 17408, 1000003})
    for (int64_t grid : {1, 2, 132, 396, 1000}) {
      int64_t end = 0;
      for (int64_t b = 0; b < grid; ++b) {
        const detail::WaveShare s = detail::wave_share(total, grid, b);
        ASSERT_EQ(s.begin, end) << total << " over " << grid << ", block " << b;
        ASSERT_EQ(s.end - s.begin, total / grid + (b < total % grid ? 1 : 0)) << total << " over " << grid;
        end = s.end;
      }
      EXPECT_EQ(end, total) << total << " over " << grid;
    }
}

// One wave's walks (the NHWC tensor-core tile's output blocks down columns)
// cover every tile once, in runs within one column; walks differ by at most
// one tile; in each whole round the blocks take adjacent columns.
TEST(ForwardPlan, WaveWalks) {
  for (int64_t row_blocks : {1, 3, 32})
    for (int64_t columns : {1, 5, 131, 132, 512, 1001})
      for (int64_t grid : {1, 2, 132, 396, 1000}) {
        const int64_t tiles = columns * row_blocks;
        std::vector<int> seen(size_t(tiles), 0);
        int64_t least = tiles, most = 0;
        for (int64_t b = 0; b < grid; ++b) {
          const detail::WaveWalk walk = detail::wave_walk(tiles, row_blocks, grid, b);
          least = std::min(least, walk.size());
          most = std::max(most, walk.size());
          for (int64_t v = 0; v < walk.size();) {
            const detail::WaveRun r = walk.run(v);
            ASSERT_GE(r.tiles, 1);
            ASSERT_LE(r.first + r.tiles, row_blocks);
            ASSERT_EQ(walk.tile(v), r.column * row_blocks + r.first);
            ASSERT_LT(r.column, columns);
            if (v < walk.whole) EXPECT_EQ(r.column % grid, b) << "round column " << r.column << " of block " << b;
            for (int64_t i = 0; i < r.tiles; ++i) ++seen[size_t(r.column * row_blocks + r.first + i)];
            v += r.tiles;
          }
        }
        EXPECT_LE(most - least, 1) << tiles << " over " << grid;
        for (int64_t t = 0; t < tiles; ++t) ASSERT_EQ(seen[size_t(t)], 1) << "block " << t << " of " << tiles;
      }
}

// The same problem on tensor cores (the default at K = 31): 32-row tiles,
// two a multiprocessor, the band pitched for ldmatrix. Its dx (dy rows of
// 542 elements), rows off the vector and odd x pointers take the
// contiguous band. K = 3 and 9 in the default table, strides, dilation and
// wider types stay off; an explicit policy takes tensor cores at any K.
// Register windows of problems with few tiles at the table's rows take
// kSmallProblemRows rows a thread (the 1x32x64x64 case: 2 in 2-byte types,
// 1 in wider ones); large problems and explicit policies keep their rows.
TEST(ForwardPlan, SmallProblemsTakeShortWindows) {
  Problem p = k3_nhwc_problem(1, 32, 64);
  const detail::KernelChoice h = detail::choose_kernel<__half, DefaultPolicy>(p, kAligned, kAligned);
  EXPECT_TRUE(h.small_rows);
  EXPECT_EQ(h.rows_per_thread, 2);
  EXPECT_GE(detail::make_forward_params(p, h).tiles, 4 * 16);
  const detail::KernelChoice f = detail::choose_kernel<float, DefaultTable<false>>(p, kAligned, kAligned);
  EXPECT_TRUE(f.small_rows);
  EXPECT_EQ(f.rows_per_thread, 1);
  EXPECT_EQ(detail::make_forward_params(p, f).tiles, 320);
  const detail::KernelChoice explicit_policy =
      detail::choose_kernel<__half, TilePolicy<128, 8, 8>>(p, kAligned, kAligned);
  EXPECT_FALSE(explicit_policy.small_rows);
  EXPECT_EQ(explicit_policy.rows_per_thread, 8);
  p.n = 64;  // 1024 tiles at the table's 8 rows
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultPolicy>(p, kAligned, kAligned).small_rows));
  // Scalar rows (odd pointers) and the staged NCHW tile keep theirs.
  p.n = 1;
  const char* odd = static_cast<const char*>(kAligned) + 2;
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultPolicy>(p, odd, odd).small_rows));
  p.layout = Layout::NCHW;
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultPolicy>(p, kAligned, kAligned).small_rows));
}

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
  const detail::KernelChoice h9 = detail::choose_kernel<__half, DefaultPolicy>(k9, kAligned, kAligned);
  EXPECT_TRUE(h9.mma && h9.mma_aligned_rows);
  EXPECT_EQ((detail::DefaultTilePolicy<__half, 9, Layout::NCHW>::type::kTensorCoreWarps), 4);
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultTable<false>>(k9, kAligned, kAligned).mma));
  Problem k3 = k9;  // 56x56-like: K = 3 stays on the CUDA-core tile
  k3.k = 3;
  k3.pad_top = k3.pad_bottom = k3.pad_left = k3.pad_right = 1;
  EXPECT_FALSE((detail::choose_kernel<__half, DefaultPolicy>(k3, kAligned, kAligned).mma));
  EXPECT_TRUE((detail::choose_kernel<__half, TilePolicy<128, 16, 8>>(k3, kAligned, kAligned).mma));
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
  int staged = 0, mma = 0, strips = 0;
  for (int i = 0; i < 3000; ++i) {
    Problem p = testbed::random_problem(rng, Layout::NCHW);
    // Every fourth problem wide and tall-kernelled, so that column strips
    // (fp32) come up.
    if (i % 4 == 0) {
      p.k = rng() % 2 ? 15 : 31;
      p.w = 4 * (100 + int64_t(rng() % 200));
      p.h = 40 + int64_t(rng() % 100);
      p.pad_top = p.pad_bottom = p.k / 2;
      p.pad_left = 1 + int64_t(rng() % 20);
      p.pad_right = int64_t(rng() % 20);
    }
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
    if (c.staged_strip_cols > 0) {
      // Column strips: a box from a vector-aligned column holding the
      // strip's span, and y's strip rows at the global phase mod v.
      ++strips;
      const int64_t cols = c.staged_strip_cols;
      EXPECT_EQ(c.staged_in_pitch % v, 0) << testbed::describe(p);
      EXPECT_GE(c.staged_in_pitch, (cols - 1) * p.stride_w + v) << testbed::describe(p);
      EXPECT_GE(c.staged_out_pitch, cols) << testbed::describe(p);
      EXPECT_EQ((c.staged_out_pitch - p.out_w()) % v, 0) << testbed::describe(p);
      EXPECT_GE(c.staged_in_elems, band_rows * c.staged_in_pitch) << testbed::describe(p);
      EXPECT_GE(c.smem_bytes, (c.staged_in_elems + tile * c.staged_out_pitch + 2 * v) * int64_t(sizeof(T)))
          << testbed::describe(p);
      EXPECT_LE(c.smem_bytes, detail::kStagedTallSmemBudget) << testbed::describe(p);
      continue;
    }
    EXPECT_GE(c.staged_in_elems, band_rows * p.w + 2 * v) << testbed::describe(p);
    EXPECT_EQ(c.staged_in_elems % v, 0) << testbed::describe(p);
    EXPECT_GE(c.smem_bytes, (c.staged_in_elems + tile * p.out_w() + 2 * v) * int64_t(sizeof(T)))
        << testbed::describe(p);
    EXPECT_LE(c.smem_bytes, p.k >= detail::kStagedTallK ? detail::kStagedTallSmemBudget : detail::kStagedSmemBudget)
        << testbed::describe(p);
  }
  if (sizeof(T) == 2) EXPECT_GT(mma, 50);
  if (detail::kStagedStrips<T, 31, Layout::NCHW>) EXPECT_GT(strips, 50);
  EXPECT_GT(staged, 100);
}

// The CUDA-core staged tile's column pairs: 2-byte types at stride 1 along
// W with even widths and windows of at most 16 rows; not fp32, odd widths,
// stride 2 along W or the tall tiles' 32-row windows.
TEST(ForwardPlan, StagedColumnPairs) {
  Problem p = tall_problem(56);
  p.h = 56;
  p.k = 3;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
  const detail::KernelChoice h = detail::choose_kernel<__half, DefaultPolicy>(p, kAligned, kAligned);
  EXPECT_TRUE(h.staged && !h.mma && h.staged_pairs);
  // A tile of 58 columns and 7 units of 8 rows: 203 items, under two a
  // thread of 128, so the tile takes a block of 64.
  EXPECT_EQ(h.threads, detail::kStagedSmallThreads);
  Problem wide = p;
  wide.w = 512;  // 257 pairs a row: whole blocks of 128
  const detail::KernelChoice hw = detail::choose_kernel<__half, DefaultPolicy>(wide, kAligned, kAligned);
  EXPECT_TRUE(hw.staged && hw.staged_pairs);
  EXPECT_EQ(hw.threads, 128);
  EXPECT_TRUE((detail::choose_kernel<__nv_bfloat16, DefaultPolicy>(p, kAligned, kAligned).staged_pairs));
  const detail::KernelChoice f = detail::choose_kernel<float, DefaultPolicy>(p, kAligned, kAligned);
  EXPECT_TRUE(f.staged && !f.staged_pairs && !f.fixed_shift);
  EXPECT_EQ(f.threads, 128);
  // fp32 rows of whole 2-lane vectors but for pad_left: the fixed phase
  // takes them from the one-lane window (rows too wide for a staged tile)
  // and, where x's rows are the wider (dx), from the staged tile.
  if (detail::kWindowFixedShift<float, 3, Layout::NCHW>) {
    Problem f_wide = p;
    f_wide.w = 512;
    const detail::KernelChoice fw = detail::choose_kernel<float, DefaultPolicy>(f_wide, kAligned, kAligned);
    EXPECT_TRUE(fw.fixed_shift && !fw.staged && fw.vec_elems == 2 && fw.x_shift == 1);
    Problem f_dx = p;
    f_dx.w = 58;
    f_dx.pad_left = f_dx.pad_right = -1;
    const detail::KernelChoice fd = detail::choose_kernel<float, DefaultPolicy>(f_dx, kAligned, kAligned);
    EXPECT_TRUE(fd.fixed_shift && !fd.staged && fd.vec_elems == 2 && fd.x_shift == 1);
  }
  Problem q = p;
  q.w = 57;
  const detail::KernelChoice odd = detail::choose_kernel<__half, DefaultPolicy>(q, kAligned, kAligned);
  EXPECT_TRUE(odd.staged && !odd.staged_pairs);
  q = p;
  q.stride_w = 2;
  const detail::KernelChoice s2 = detail::choose_kernel<__half, DefaultPolicy>(q, kAligned, kAligned);
  EXPECT_TRUE(s2.staged && !s2.staged_pairs);
  const Problem tall = tall_problem(512);
  const detail::KernelChoice t = detail::choose_kernel<__half, DefaultTable<false>>(tall, kAligned, kAligned);
  EXPECT_TRUE(t.staged && t.rows_per_thread == 32 && !t.staged_pairs);
}

TEST(ForwardPlan, StagedBandsHoldWhatTheKernelIndexes) {
  std::mt19937_64 rng(99);
  check_staged_bands<float>(rng);
  check_staged_bands<__half>(rng);
}

}  // namespace
}  // namespace dwconv
