// Host checks of the backward plans, no GPU needed: the stride-1 dx really
// is the forward of the transposed problem (on the host reference), the
// strided dx's first-tap table, and the dw tiling's coverage and workspace.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <dwconv/dwconv.cuh>
#include <random>
#include <vector>

#include "testbed.hpp"

namespace dwconv {
namespace {

Problem random_stride1(std::mt19937_64& rng, Layout layout) {
  for (;;) {
    Problem p = testbed::random_problem(rng, layout);
    p.stride_h = p.stride_w = 1;
    if (validate(p).ok() && p.n > 0 && p.x_elements() <= 100000 && p.y_elements() <= 100000) return p;
  }
}

// dx of p (reference::backward_input) equals the forward of
// transposed_problem(p) on dy with the taps reversed, bitwise on integers:
// the identity backward_input's stride-1 path runs on.
TEST(BackwardPlan, StrideOneDxIsTheTransposedForward) {
  std::mt19937_64 rng(4242);
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (int i = 0; i < 300; ++i) {
      const Problem p = random_stride1(rng, layout);
      const Problem t = detail::transposed_problem(p);
      ASSERT_EQ(t.out_h(), p.h) << testbed::describe(p);
      ASSERT_EQ(t.out_w(), p.w) << testbed::describe(p);
      std::vector<float> dy(size_t(p.y_elements())), w(size_t(p.w_elements())), flipped(w.size());
      testbed::fill_random(dy, rng, true, 5);
      testbed::fill_random(w, rng, true, 5);
      for (int64_t c = 0; c < p.c; ++c)
        for (int k = 0; k < p.k; ++k) flipped[size_t(c * p.k + k)] = w[size_t(c * p.k + p.k - 1 - k)];
      std::vector<float> dx(size_t(p.x_elements())), fwd(dx.size());
      reference::backward_input<float>(p, dy.data(), w.data(), dx.data());
      reference::forward<float>(t, dy.data(), flipped.data(), nullptr, fwd.data());
      ASSERT_EQ(std::memcmp(dx.data(), fwd.data(), dx.size() * sizeof(float)), 0) << testbed::describe(p);
    }
}

// For each residue r of (h + pad_top) mod stride_h, the table's first tap is
// the smallest k with k * dilation_h = r (mod stride_h), and its output row
// lies first_back rows above (h + pad_top) / stride_h.
TEST(BackwardPlan, StridedDxFirstTapTable) {
  for (int sh = 1; sh <= detail::kStridedDxResidues; ++sh)
    for (int dh = 1; dh <= 9; ++dh) {
      Problem p;
      p.n = 1;
      p.c = 1;
      p.h = 40;
      p.w = 3;
      p.k = 7;
      p.stride_h = sh;
      p.dilation_h = dh;
      p.pad_top = p.pad_bottom = 3 * dh;
      if (!validate(p).ok()) continue;
      const detail::BackwardInputParams b = detail::make_backward_input_params(p, 1);
      ASSERT_EQ(b.residues, sh);
      for (int r = 0; r < sh; ++r) {
        int expect = -1;
        for (int k = 0; k < sh && expect < 0; ++k)
          if (int64_t(k) * dh % sh == r) expect = k;
        ASSERT_EQ(b.first_tap[r], expect) << "stride " << sh << " dilation " << dh << " residue " << r;
        if (expect >= 0) EXPECT_EQ(int64_t(b.first_back[r]) * sh, int64_t(expect) * dh - r);
      }
    }
}

// The polyphase dx groups: t = (h + pad_top) / 2 from dx row 0 to row h - 1
// in whole groups of kPolyphaseRows, none empty, and only stride_h 2 with
// dilation 1 and a static K takes them.
TEST(BackwardPlan, PolyphaseDxGroups) {
  std::mt19937_64 rng(5);
  int taken = 0;
  for (int i = 0; i < 3000; ++i) {
    const Problem p = testbed::random_problem(rng, i % 2 ? Layout::NCHW : Layout::NHWC);
    const bool static_k = detail::dispatch_static_k(p.k, [](auto) {});
    ASSERT_EQ(detail::dx_is_polyphase(p), p.stride_h == 2 && p.dilation_h == 1 && static_k) << testbed::describe(p);
    if (!detail::dx_is_polyphase(p)) continue;
    ++taken;
    const detail::BackwardInputParams b = detail::make_backward_input_params(p, 1);
    const int64_t t_first = p.pad_top / 2, t_last = (p.h - 1 + p.pad_top) / 2;
    ASSERT_EQ(b.t_lo, t_first) << testbed::describe(p);
    ASSERT_GE(b.t_lo + b.row_groups * detail::kPolyphaseRows - 1, t_last) << testbed::describe(p);
    ASSERT_LE(b.t_lo + (b.row_groups - 1) * detail::kPolyphaseRows, t_last) << testbed::describe(p);
    ASSERT_EQ(b.items, b.planes * b.row_groups * b.col_vecs) << testbed::describe(p);
  }
  EXPECT_GE(taken, 20);
}

template <class T>
void check_weight_grad_plans(Layout layout) {
  std::mt19937_64 rng(77);
  using A = typename NumericTraits<T>::Accum;
  for (int i = 0; i < 2000; ++i) {
    const Problem p = testbed::random_problem(rng, layout);
    if (p.n == 0) continue;
    const int64_t bound = detail::weight_grad_workspace_bytes<T>(p);
    for (bool vec : {true, false}) {
      const detail::WeightGradPlan plan = detail::plan_weight_grad<T>(p, vec);
      const detail::WeightGradParams& f = plan.params;
      const std::string what = testbed::describe(p) + (vec ? " vector" : " scalar");
      const int64_t rows_per_unit = int64_t(plan.rows_per_thread) * f.row_step;
      if (f.staged) {
        // NCHW on the scalar tiling; NHWC on the vector tiling with stride 1
        // along W and a power-of-two count of channel vectors up to the
        // block. Every dy row (and NHWC pixel) of every image in exactly one
        // piece, every piece in exactly one chunk; bands as large as the
        // kernel indexes them.
        ASSERT_FALSE(plan.per_tap) << what;
        ASSERT_EQ(f.tile_rows % rows_per_unit, 0) << what;
        ASSERT_GE(f.bands_per_plane * f.tile_rows, p.out_h()) << what;
        ASSERT_LT((f.bands_per_plane - 1) * f.tile_rows, p.out_h()) << what;
        const int64_t pieces = p.n * f.pixel_blocks * f.bands_per_plane;
        ASSERT_GE(f.pieces_per_chunk * f.row_chunks, pieces) << what;
        ASSERT_LT(f.pieces_per_chunk * (f.row_chunks - 1), pieces) << what;
        const int v = plan.staged_vec;
        const int64_t band_rows = (f.tile_rows - 1) * int64_t(p.stride_h) + int64_t(p.k - 1) * p.dilation_h + 1;
        if (layout == Layout::NCHW) {
          ASSERT_EQ(plan.vec_elems, 1) << what;
          ASSERT_EQ(f.pixel_blocks, 1) << what;
          ASSERT_GE(f.smem_x_elems, band_rows * p.w + 2 * v) << what;
          ASSERT_GE(plan.smem_bytes, (f.smem_x_elems + f.tile_rows * p.out_w() + 2 * v) * int64_t(sizeof(T))) << what;
        } else {
          ASSERT_TRUE(vec) << what;
          ASSERT_EQ(p.stride_w, 1) << what;
          ASSERT_EQ(v, plan.vec_elems) << what;
          ASSERT_GT(v, 1) << what;
          ASSERT_EQ(p.c % v, 0) << what;
          ASSERT_EQ(int64_t(v) << f.col_threads_log2, p.c) << what;
          ASSERT_LE(int64_t(1) << f.col_threads_log2, plan.threads) << what;
          ASSERT_GE(f.pixel_blocks * f.piece_pixels, p.out_w()) << what;
          ASSERT_LT((f.pixel_blocks - 1) * f.piece_pixels, p.out_w()) << what;
          const int64_t row = f.piece_pixels * p.c;
          ASSERT_EQ(f.smem_x_elems, band_rows * row) << what;
          ASSERT_EQ(plan.smem_bytes, (f.smem_x_elems + f.tile_rows * row) * int64_t(sizeof(T))) << what;
          ASSERT_LE(plan.smem_bytes,
                    p.k >= detail::kStagedTallK ? detail::kStagedTallSmemBudget : detail::kStagedSmemBudget)
              << what;
          ASSERT_EQ(f.tiles, f.row_chunks) << what;
          ASSERT_EQ(f.slots, f.row_chunks) << what;
        }
      } else {
        // Every row unit of every image lies in exactly one chunk.
        ASSERT_GE(f.units_per_chunk * f.row_chunks, f.units) << what;
        ASSERT_LT(f.units_per_chunk * (f.row_chunks - 1), f.units) << what;
        ASSERT_GE(f.units_per_plane / f.row_step * rows_per_unit, p.out_h()) << what;
      }
      if (layout == Layout::NHWC && !f.staged) {
        // Every output pixel and channel has a thread.
        const int64_t ct = int64_t(1) << f.col_threads_log2;
        const int64_t row_threads = plan.threads / ct;
        ASSERT_GE(f.pixel_blocks * f.pixels_per_thread * row_threads, p.out_w()) << what;
        ASSERT_GE(f.col_blocks * ct * plan.vec_elems, p.c) << what;
        ASSERT_EQ(f.tiles, f.row_chunks * f.pixel_blocks * f.col_blocks) << what;
        ASSERT_EQ(f.slots, f.row_chunks * f.pixel_blocks) << what;
      } else if (layout == Layout::NCHW) {
        ASSERT_EQ(f.tiles, p.c * f.row_chunks) << what;
        ASSERT_EQ(f.slots, f.row_chunks) << what;
      }
      // The workspace holds one sum per (slot, channel, tap + bias), and the
      // size query covers both tilings.
      ASSERT_EQ(plan.workspace_bytes, f.slots * p.c * (p.k + 1) * int64_t(sizeof(A))) << what;
      ASSERT_LE(plan.workspace_bytes, bound) << what;
      // Heights outside the table, or windows stepping more than 2, go tap by tap.
      const bool in_table = std::find(std::begin(detail::kStaticKernelHeights), std::end(detail::kStaticKernelHeights),
                                      p.k) != std::end(detail::kStaticKernelHeights);
      const int64_t ratio = p.stride_h / detail::gcd64(p.stride_h, p.dilation_h);
      ASSERT_EQ(plan.per_tap, !(in_table && ratio <= 2)) << what;
    }
  }
}

// The NCHW tensor-core dw tile's chunks (chunk_target): every piece of
// every image in exactly one chunk, at most ceil(most / C) chunks a
// channel, at least `least` pieces a chunk where a channel has that many,
// and slots the workspace query covers.
TEST(BackwardPlan, NchwTensorCoreWeightGradChunks) {
  std::mt19937_64 rng(79);
  int planned = 0, tall = 0, paired = 0;
  for (int i = 0; i < 4000; ++i) {
    Problem p = testbed::random_problem(rng, Layout::NCHW);
    p.stride_h = p.stride_w = p.dilation_h = 1;
    p.k = detail::kStaticKernelHeights[i % std::size(detail::kStaticKernelHeights)];
    if (i % 2) p.c = 100 + int64_t(rng() % 900);  // few chunks a channel: chunks of several pieces
    if (p.n == 0 || p.out_h() < 1 || p.out_w() < 1) continue;
    detail::WeightGradPlan plan;
    if (!detail::plan_weight_grad_mma<__half>(p, i % 2 == 0, i % 3 == 0, 256, plan)) continue;
    const detail::WeightGradParams& f = plan.params;
    const std::string what = testbed::describe(p);
    const detail::ChunkTarget t = detail::chunk_target(p, true, plan.smem_bytes);
    const int64_t pieces = p.n * f.bands_per_plane;
    ASSERT_GE(f.bands_per_plane * f.tile_rows, p.out_h()) << what;
    ASSERT_LT((f.bands_per_plane - 1) * f.tile_rows, p.out_h()) << what;
    ASSERT_GE(f.pieces_per_chunk * f.row_chunks, pieces) << what;
    ASSERT_LT(f.pieces_per_chunk * (f.row_chunks - 1), pieces) << what;
    ASSERT_LE(f.row_chunks, std::max<int64_t>(1, (t.most + p.c - 1) / p.c)) << what;
    if (pieces >= t.least) ASSERT_GE(f.pieces_per_chunk, t.least) << what;
    ASSERT_EQ(f.tiles, p.c * f.row_chunks) << what;
    ASSERT_LE(plan.workspace_bytes, detail::weight_grad_workspace_bytes<__half>(p)) << what;
    ++planned;
    tall += p.k >= detail::kTallKernelHeight && f.pieces_per_chunk > 1;
    paired += t.least > 1 && f.pieces_per_chunk == t.least;
  }
  EXPECT_GE(planned, 500) << tall << " " << paired;
  EXPECT_GE(tall, 20) << planned << " " << paired;
  EXPECT_GE(paired, 20) << planned << " " << tall;
}

// The plane tile's plan: it takes only rows of an odd number of 16-byte
// vectors, aligned tensors, dy planes of whole vectors and two buffers in
// kDwPlaneSmemBytes, and then every plane's x rows fit its buffer; its
// chunks cover the images, one a chunk unless a channel's slots would pass
// the workspace query's bound. The benchmark's 2-byte 56x56 takes it.
TEST(BackwardPlan, NchwPlaneTileWeightGrad) {
  const void* aligned = reinterpret_cast<const void*>(uintptr_t(1) << 20);
  const void* odd = reinterpret_cast<const void*>((uintptr_t(1) << 20) + 2);
  std::mt19937_64 rng(83);
  int planned = 0, chunked = 0;
  for (int i = 0; i < 4000; ++i) {
    Problem p = testbed::random_problem(rng, Layout::NCHW);
    p.stride_h = p.stride_w = p.dilation_h = 1;
    p.k = detail::kStaticKernelHeights[i % std::size(detail::kStaticKernelHeights)];
    p.w = 8 * (1 + int64_t(rng() % 8));
    if (i % 3 == 0) p.c = 500 + int64_t(rng() % 1500);
    if (i % 5 == 0) p.n = 20 + int64_t(rng() % 40);
    if (p.n == 0 || p.out_h() < 1 || p.out_w() < 1 || !validate(p).ok()) continue;
    detail::WeightGradPlan plan;
    const bool takes = detail::plan_weight_grad_mma_plane<__half>(p, aligned, aligned, plan);
    const std::string what = testbed::describe(p);
    if (p.w % 16 == 0 || p.out_h() * p.out_w() % 8 != 0) {
      ASSERT_FALSE(takes) << what;
      continue;
    }
    if (!takes) continue;
    ASSERT_FALSE(detail::plan_weight_grad_mma_plane<__half>(p, odd, aligned, plan)) << what;
    ASSERT_FALSE(detail::plan_weight_grad_mma_plane<__half>(p, aligned, odd, plan)) << what;
    ASSERT_TRUE(detail::plan_weight_grad_mma_plane<__half>(p, aligned, aligned, plan)) << what;
    const detail::WeightGradParams& f = plan.params;
    ASSERT_LE(plan.smem_bytes, detail::kDwPlaneSmemBytes) << what;
    ASSERT_GE(plan.smem_bytes, detail::dw_mma_sum_bytes(detail::kDwPlaneThreads, int(p.k))) << what;
    ASSERT_GE(f.tile_rows, p.out_h()) << what;
    ASSERT_EQ(f.tile_rows % 16, 0) << what;
    ASSERT_LE((p.pad_top + p.h) * p.w, f.smem_x_elems) << what;
    ASSERT_GE(f.pieces_per_chunk * f.row_chunks, p.n) << what;
    ASSERT_LT(f.pieces_per_chunk * (f.row_chunks - 1), p.n) << what;
    ASSERT_EQ(f.tiles, p.c * f.row_chunks) << what;
    ASSERT_LE(plan.workspace_bytes, detail::weight_grad_workspace_bytes<__half>(p)) << what;
    ++planned;
    chunked += f.pieces_per_chunk > 1;
  }
  EXPECT_GE(planned, 300) << chunked;
  EXPECT_GE(chunked, 20) << planned;
  Problem p = testbed::mobile_56x56_problem(32, 256);
  detail::WeightGradPlan plan;
  ASSERT_TRUE(detail::plan_weight_grad_mma_plane<__half>(p, aligned, aligned, plan));
  EXPECT_EQ(plan.params.tile_rows, 64);
  EXPECT_EQ(plan.params.pieces_per_chunk, 1);
  EXPECT_EQ(plan.params.tiles, 32 * 256);
  p.w = 64;  // rows of 8 vectors: ldmatrix's rows would share banks
  EXPECT_FALSE(detail::plan_weight_grad_mma_plane<__half>(p, aligned, aligned, plan));
  p.h = p.w = 120;  // two buffers past kDwPlaneSmemBytes
  EXPECT_FALSE(detail::plan_weight_grad_mma_plane<__half>(p, aligned, aligned, plan));
  // A tile a block: more tiles than a grid's blocks go to the staged tile.
  p = testbed::mobile_56x56_problem(1, int64_t(INT_MAX) + 1);
  ASSERT_TRUE(validate(p).ok());
  EXPECT_FALSE(detail::plan_weight_grad_mma_plane<__half>(p, aligned, aligned, plan));
  EXPECT_TRUE(detail::plan_weight_grad_mma<__half>(p, true, true, 128, plan));
  p.c = INT_MAX;
  EXPECT_TRUE(detail::plan_weight_grad_mma_plane<__half>(p, aligned, aligned, plan));
  EXPECT_EQ(plan.params.tiles, INT_MAX);
}

// Padded NCHW rows of every static height stage (they fit) rather than
// run 2-byte scalar loads.
TEST(BackwardPlan, PaddedNchwWeightGradStages) {
  for (int k : detail::kStaticKernelHeights) {
    Problem p;
    p.n = 4;
    p.c = 8;
    p.h = 64;
    p.w = 62;
    p.k = k;
    p.pad_top = p.pad_bottom = k / 2;
    p.pad_left = p.pad_right = 1;
    EXPECT_TRUE(detail::plan_weight_grad<__half>(p, false).params.staged) << testbed::describe(p);
    EXPECT_TRUE(detail::plan_weight_grad<float>(p, false).params.staged) << testbed::describe(p);
  }
}

// Stride-1 NHWC rows on the vector tiling stage whenever the channel
// vectors are a power of two up to the block (not 512 channels in pairs, as
// at K = 31), for every static height.
TEST(BackwardPlan, VectorNhwcWeightGradStages) {
  for (int k : detail::kStaticKernelHeights)
    for (int64_t c : {8, 32, 256, 512}) {
      Problem p;
      p.layout = Layout::NHWC;
      p.n = 4;
      p.c = c;
      p.h = 64;
      p.w = 62;
      p.k = k;
      p.pad_top = p.pad_bottom = k / 2;
      p.pad_left = p.pad_right = 1;
      for (const detail::WeightGradPlan& plan :
           {detail::plan_weight_grad<__half>(p, true), detail::plan_weight_grad<float>(p, true)})
        EXPECT_EQ(plan.params.staged, p.c / plan.vec_elems <= plan.threads) << testbed::describe(p);
      EXPECT_FALSE(detail::plan_weight_grad<float>(p, false).params.staged) << testbed::describe(p);
      p.stride_w = 2;
      EXPECT_FALSE(detail::plan_weight_grad<float>(p, true).params.staged) << testbed::describe(p);
    }
}

// The rolling dw walk: block b's share of the rows, cut into runs, visits
// every (column, output row) exactly once, each run inside one residue mod q
// and one column, for shares shorter and longer than a residue.
TEST(BackwardPlan, RollingWeightGradRunsCoverEveryRow) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 3000; ++i) {
    const int64_t out_h = 1 + int64_t(rng() % 40), n = 1 + int64_t(rng() % 3);
    const int64_t block_pixels = int64_t(1) << (rng() % 4), out_w = 1 + int64_t(rng() % 20);
    const int64_t pixel_blocks = (out_w + block_pixels - 1) / block_pixels, columns = n * pixel_blocks;
    const int q = 1 + int(rng() % 4);
    const int64_t rows = columns * out_h, grid = 1 + int64_t(rng() % (2 * rows + 3));
    auto share = [&](int64_t b) { return b * rows / grid; };
    ASSERT_EQ(share(0), 0);
    ASSERT_EQ(share(grid), rows);
    std::vector<int> seen(size_t(rows), 0);
    for (int64_t b = 0; b < grid; ++b) {
      const int64_t end = share(b + 1);
      ASSERT_LE(share(b), end);
      for (int64_t g = share(b); g < end;) {
        const detail::RollingRun run = detail::rolling_run(g, end, out_h, q);
        ASSERT_GE(run.rows, 1);
        ASSERT_LE(g + run.rows, end);
        ASSERT_LT(run.ho0 + (run.rows - 1) * q, out_h) << "out_h " << out_h << " q " << q;
        for (int64_t t = 0; t < run.rows; ++t) ++seen[size_t(run.column * out_h + run.ho0 + t * q)];
        g += run.rows;
      }
    }
    for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(seen[size_t(r)], 1) << "out_h " << out_h << " q " << q;
  }
}

// Stride_h 1 rows take the table's rolling dw entry (NHWC: when its vector
// gives a power-of-two count of channel vectors up to the block). The
// rolling tiling covers every column and row once with at most the
// workspace bound's slots, for any grid the launcher offers and any lanes
// (a benchmark's explicit tiling).
template <class T>
void check_rolling_weight_grad_plans(Layout layout) {
  std::mt19937_64 rng(78);
  for (int i = 0; i < 2000; ++i) {
    const Problem p = testbed::random_problem(rng, layout);
    if (p.n == 0) continue;
    const std::string what = testbed::describe(p);
    const int vec = detail::rolling_weight_grad_vec<T>(p);
    if (p.stride_h != 1) ASSERT_EQ(vec, 0) << what;
    int table_vec = 0;
    detail::dispatch_static_k(p.k, [&](auto k_const) {
      table_vec = detail::DefaultWeightGradPolicy<T, decltype(k_const)::value, Layout::NCHW>::kRollingVec;
    });
    if (layout == Layout::NCHW && p.stride_h == 1) ASSERT_EQ(vec, table_vec) << what;
    const int lanes = vec > 0 ? vec : 1 << (rng() % 4);
    constexpr int kThreads = 128;
    if (!detail::rolling_weight_grad_fits(p, lanes, kThreads)) continue;
    const int64_t blocks = 1 + int64_t(rng() % 3000);
    detail::WeightGradPlan plan = detail::plan_weight_grad<T>(p, true);
    detail::plan_weight_grad_rolling<T>(p, kThreads, 8, lanes, blocks, plan);
    const detail::WeightGradParams& f = plan.params;
    ASSERT_TRUE(plan.rolling) << what;
    ASSERT_FALSE(f.staged || plan.per_tap) << what;
    ASSERT_EQ(plan.vec_elems, lanes) << what;
    ASSERT_EQ(f.row_step, p.dilation_h) << what;
    ASSERT_LE(int64_t(1) << f.col_threads_log2, kThreads) << what;
    const int64_t subs = kThreads >> f.col_threads_log2;
    if (layout == Layout::NHWC) {
      ASSERT_EQ(int64_t(lanes) << f.col_threads_log2, p.c) << what;
      // (image, pixel) slots, subs a block.
      ASSERT_EQ(f.piece_pixels, p.out_w()) << what;
      ASSERT_EQ(f.pixel_blocks, (p.n * p.out_w() + subs - 1) / subs) << what;
      const int64_t rows = f.pixel_blocks * p.out_h();
      ASSERT_EQ(f.tiles, std::min({blocks, detail::kWeightGradMaxTiles, rows})) << what;
      ASSERT_EQ(f.slots, f.tiles) << what;
    } else {
      // (image, column vector) slots, a block of them at a time.
      const int64_t col_vecs = (p.out_w() + lanes - 1) / lanes;
      ASSERT_EQ(f.piece_pixels, col_vecs) << what;
      ASSERT_EQ(f.pixel_blocks, (p.n * col_vecs + kThreads - 1) / kThreads) << what;
      const int64_t rows = f.pixel_blocks * p.out_h();
      ASSERT_GE(f.row_chunks, 1) << what;
      ASSERT_LE(f.row_chunks, std::max<int64_t>(1, detail::kRollingNchwMaxTiles / p.c)) << what;
      ASSERT_EQ(f.row_chunks, detail::rolling_nchw_blocks_per_channel(p.c, rows, blocks)) << what;
      ASSERT_LE(f.row_chunks, rows) << what;
      ASSERT_EQ(f.tiles, p.c * f.row_chunks) << what;
      ASSERT_EQ(f.slots, f.row_chunks) << what;
    }
    ASSERT_LE(plan.workspace_bytes, detail::weight_grad_workspace_bytes<T>(p)) << what;
  }
}

// The NCHW rolling grid fills its waves: C = 256 or 512 on a ~660-block
// wave took 78 % of it with one wave's floor(wave / C) blocks a channel.
TEST(BackwardPlan, RollingNchwGridFillsItsWaves) {
  for (int64_t wave : {int64_t(1), int64_t(132), int64_t(660), int64_t(1056), int64_t(2112)})
    for (int64_t c : {int64_t(1), int64_t(3), int64_t(8), int64_t(64), int64_t(256), int64_t(512), int64_t(1000),
                      int64_t(5000), int64_t(20000)})
      for (int64_t rows : {int64_t(1), int64_t(7), int64_t(100000)}) {
        const int64_t b = detail::rolling_nchw_blocks_per_channel(c, rows, wave);
        const std::string what =
            "C " + std::to_string(c) + " wave " + std::to_string(wave) + " rows " + std::to_string(rows);
        ASSERT_GE(b, 1) << what;
        ASSERT_LE(b, std::max<int64_t>(1, std::min(rows, detail::kRollingNchwMaxTiles / c))) << what;
        const int64_t tiles = c * b, waves = (tiles + wave - 1) / wave;
        if (rows >= 100 && c <= detail::kRollingNchwMaxTiles / 8)
          EXPECT_GE(double(tiles) / double(waves * wave), 0.9) << what;
        // Few rows a channel: every row its own block before the grid idles.
        if (c * rows <= wave && c * rows <= detail::kRollingNchwMaxTiles) EXPECT_EQ(b, rows) << what;
      }
}

// An NCHW K = 3 problem whose rows vectors cannot walk (pad 1, width 30),
// 512 rows.
Problem padded_nchw_rows() {
  Problem p;
  p.layout = Layout::NCHW;
  p.n = 2;
  p.c = 8;
  p.k = 3;
  p.w = 30;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
  p.h = 512;
  return p;
}

// NCHW rows off the vector take the one-lane rolling kernel in 4- and
// 8-byte types where a column's runs are long, and the staged tile otherwise.
TEST(BackwardPlan, RollingNchwOneLaneRows) {
  Problem p = padded_nchw_rows();
  EXPECT_TRUE(detail::rolling_weight_grad_nchw_one_lane<float>(p));
  EXPECT_TRUE(detail::rolling_weight_grad_nchw_one_lane<double>(p));
  EXPECT_FALSE(detail::rolling_weight_grad_nchw_one_lane<__half>(p));
  p.dilation_h = 4;  // runs of a residue: 128 rows
  p.pad_top = p.pad_bottom = 4;
  EXPECT_FALSE(detail::rolling_weight_grad_nchw_one_lane<float>(p));
  p.dilation_h = 1;
  p.pad_top = p.pad_bottom = 1;
  p.h = 56;
  EXPECT_FALSE(detail::rolling_weight_grad_nchw_one_lane<float>(p));
}

// Shifted vectors: fp32 at K < 7 on columns of 128+ rows a run (kRolling:
// any height); no other type.
TEST(BackwardPlan, RollingNchwShiftedRows) {
  Problem p = padded_nchw_rows();
  EXPECT_TRUE(detail::rolling_weight_grad_nchw_shifted<float>(p, false));
  EXPECT_FALSE(detail::rolling_weight_grad_nchw_shifted<double>(p, true));
  EXPECT_FALSE(detail::rolling_weight_grad_nchw_shifted<__half>(p, true));
  EXPECT_FALSE(detail::rolling_weight_grad_nchw_shifted<__nv_bfloat16>(p, true));
  p.dilation_h = 2;  // runs of a residue: 128 rows
  p.pad_top = p.pad_bottom = 2;
  p.h = 256;
  EXPECT_TRUE(detail::rolling_weight_grad_nchw_shifted<float>(p, false));
  p.h = 250;
  EXPECT_FALSE(detail::rolling_weight_grad_nchw_shifted<float>(p, false));
  EXPECT_TRUE(detail::rolling_weight_grad_nchw_shifted<float>(p, true));
  p.dilation_h = 1;
  p.k = 7;
  p.pad_top = p.pad_bottom = 3;
  p.h = 512;
  EXPECT_FALSE(detail::rolling_weight_grad_nchw_shifted<float>(p, true));
}

TEST(BackwardPlan, RollingWeightGradTiling) {
  for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
    check_rolling_weight_grad_plans<float>(layout);
    check_rolling_weight_grad_plans<__half>(layout);
    check_rolling_weight_grad_plans<double>(layout);
  }
}

TEST(BackwardPlan, WeightGradTilingCoversEverything) {
  check_weight_grad_plans<float>(Layout::NCHW);
  check_weight_grad_plans<float>(Layout::NHWC);
  check_weight_grad_plans<__half>(Layout::NCHW);
  check_weight_grad_plans<__half>(Layout::NHWC);
  check_weight_grad_plans<double>(Layout::NHWC);
}

// The NHWC tensor-core dw tile: which problems it takes, and its plan's
// chunks cover every step exactly once, within the tile's channel groups,
// the workspace that backward_weight_workspace_size reports and the
// shared-memory opt-in of an H100.
TEST(BackwardPlan, NhwcTensorCoreWeightGradChunks) {
  const void* aligned = reinterpret_cast<const void*>(uintptr_t(1) << 20);
  const void* odd = reinterpret_cast<const void*>((uintptr_t(1) << 20) + 2);
  Problem base;
  base.layout = Layout::NHWC;
  base.n = 3;
  base.c = 64;
  base.k = 31;
  base.h = 70;
  base.w = 45;
  base.pad_top = base.pad_bottom = base.pad_left = base.pad_right = 15;
  EXPECT_TRUE(detail::mma_nhwc_weight_grad_applies<__half>(base, aligned, aligned));
  EXPECT_FALSE(detail::mma_nhwc_weight_grad_applies<float>(base, aligned, aligned));
  EXPECT_FALSE(detail::mma_nhwc_weight_grad_applies<__half>(base, odd, aligned));
  EXPECT_FALSE(detail::mma_nhwc_weight_grad_applies<__half>(base, aligned, odd));
  Problem q = base;
  q.c = 48;
  EXPECT_FALSE(detail::mma_nhwc_weight_grad_applies<__half>(q, aligned, aligned));
  q = base;
  q.stride_h = 2;
  EXPECT_FALSE(detail::mma_nhwc_weight_grad_applies<__half>(q, aligned, aligned));
  q = base;
  q.dilation_h = 2;
  EXPECT_FALSE(detail::mma_nhwc_weight_grad_applies<__half>(q, aligned, aligned));
  q = base;
  q.layout = Layout::NCHW;
  EXPECT_FALSE(detail::mma_nhwc_weight_grad_applies<__half>(q, aligned, aligned));
  q = base;
  q.k = 11;
  EXPECT_FALSE(detail::mma_nhwc_weight_grad_applies<__half>(q, aligned, aligned));

  for (int k : detail::kStaticKernelHeights) {
    EXPECT_LE(detail::DwMmaNhwcSmem{k}.bytes(), 227 * 1024) << "K " << k;
    const detail::DwMmaNhwcSmem smem{k};
    EXPECT_GE(16 * smem.tiles(), k + 8) << "K " << k;  // the bias row
    EXPECT_GE(smem.ring_rows(), 8 * smem.groups() + 16) << "K " << k;
    EXPECT_LE(smem.lead_rows(), 32) << "K " << k;
    for (int64_t c : {64, 192, 512})
      for (int64_t blocks : {1, 7, 264, 100000}) {
        Problem p = base;
        p.k = k;
        p.c = c;
        p.pad_top = p.pad_bottom = k / 2;
        detail::WeightGradPlan plan;
        detail::plan_weight_grad_mma_nhwc<__half>(p, blocks, plan);
        const detail::WeightGradParams& f = plan.params;
        const int64_t cols = detail::kDwMmaNhwcCols;
        const int64_t steps = p.n * ((p.out_w() + cols - 1) / cols) * ((p.out_h() + 15) / 16);
        EXPECT_EQ(f.col_blocks, c / detail::kDwMmaNhwcChannels);
        EXPECT_EQ(f.tiles, f.col_blocks * f.row_chunks);
        EXPECT_GE(f.row_chunks * f.pieces_per_chunk, steps);
        EXPECT_LT((f.row_chunks - 1) * f.pieces_per_chunk, steps);
        EXPECT_LE(f.row_chunks, detail::kWeightGradMaxTiles);
        EXPECT_EQ(f.slots, f.row_chunks);
        EXPECT_LE(plan.workspace_bytes, detail::weight_grad_workspace_bytes<__half>(p)) << "K " << k << " C " << c;
        EXPECT_EQ(plan.smem_bytes, detail::DwMmaNhwcSmem{k}.bytes());
      }
  }
}

// Shifted vectors (shifted_vector.cuh): V elements at any offset of a
// tensor come out of two aligned vectors, for every shift, at the tensor's
// ends too (vectors wholly outside read clamped addresses, and only
// elements outside the tensor may differ).
template <class T, int V>
void check_shifted_vectors() {
  std::mt19937_64 rng(91);
  for (int i = 0; i < 3000; ++i) {
    const int64_t total = V * (1 + int64_t(rng() % 40));
    std::vector<T> elems(static_cast<size_t>(total));
    for (int64_t e = 0; e < total; ++e) elems[size_t(e)] = T(float(e % 1000) + 0.5f);
    const int64_t first = int64_t(rng() % uint64_t(total + 4 * V)) - 2 * V;
    const detail::ShiftedVector s = detail::shifted_vector<V>(first, total);
    ASSERT_GE(s.shift, 0);
    ASSERT_LT(s.shift, V);
    ASSERT_EQ(s.lo % V, 0);
    ASSERT_EQ(s.hi % V, 0);
    ASSERT_GE(s.lo, 0);
    ASSERT_GE(s.hi, 0);
    ASSERT_LE(s.lo + V, total);
    ASSERT_LE(s.hi + V, total);
    detail::AlignedVector<T, V> lo, hi;
    for (int j = 0; j < V; ++j) {
      lo.e[j] = elems[size_t(s.lo + j)];
      hi.e[j] = elems[size_t(s.hi + j)];
    }
    const detail::AlignedVector<T, V> out = detail::funnel<T, V>(lo, hi, s.shift);
    for (int j = 0; j < V; ++j) {
      const int64_t pos = first + j;
      if (pos < 0 || pos >= total) continue;
      ASSERT_EQ(std::memcmp(&out.e[j], &elems[size_t(pos)], sizeof(T)), 0)
          << "V " << V << " first " << first << " total " << total << " j " << j;
    }
  }
}

TEST(BackwardPlan, ShiftedVectorsReadEveryOffset) {
  check_shifted_vectors<float, 2>();
  check_shifted_vectors<float, 4>();
  check_shifted_vectors<double, 2>();
  check_shifted_vectors<__half, 2>();
  check_shifted_vectors<__half, 4>();
  check_shifted_vectors<__half, 8>();
  check_shifted_vectors<__nv_bfloat16, 8>();
}

// The shifted NCHW dw walk on the host: each column vector's runs read
// through shifted_column, shifted_vector and funnel with the kernel's masks
// (its loads and zeros, not its rings), summed exactly in double, give
// reference::backward_weight's dw and dbias. C is a multiple of V, so the
// tensors are whole vectors, as the launcher requires.
template <int V>
void check_shifted_walk() {
  std::mt19937_64 rng(61);
  int checked = 0;
  for (int i = 0; i < 400; ++i) {
    Problem p;
    p.layout = Layout::NCHW;
    p.n = 1 + int64_t(rng() % 3);
    p.c = V * (1 + int64_t(rng() % 2));
    const int ks[] = {1, 2, 3, 5, 7};
    p.k = ks[rng() % 5];
    p.dilation_h = 1 + int(rng() % 3);
    p.h = 1 + int64_t(rng() % 20);
    p.w = 1 + int64_t(rng() % 20);
    p.pad_top = int(rng() % 7);
    p.pad_bottom = int(rng() % 7);
    p.pad_left = int(rng() % 7);
    p.pad_right = int(rng() % 7);
    if (!validate(p).ok()) continue;
    const std::string what = testbed::describe(p);
    std::vector<double> x(static_cast<size_t>(p.x_elements())), dy(static_cast<size_t>(p.y_elements()));
    for (double& v : x) v = double(int(rng() % 17) - 8);
    for (double& v : dy) v = double(int(rng() % 17) - 8);
    std::vector<double> ref_w(static_cast<size_t>(p.w_elements())), ref_b(static_cast<size_t>(p.c));
    reference::backward_weight<double>(p, x.data(), dy.data(), ref_w.data(), ref_b.data());

    detail::WeightGradPlan plan = detail::plan_weight_grad<double>(p, true);
    detail::plan_weight_grad_rolling<double>(p, 128, 4, V, 100, plan);
    const detail::WeightGradParams& f = plan.params;
    const int q = f.row_step;
    const int64_t dy_step = int64_t(q) * f.dy_row_pitch, col_vecs = (p.out_w() + V - 1) / V;
    auto read = [&](const std::vector<double>& t, int64_t first) {
      const detail::ShiftedVector sv = detail::shifted_vector<V>(first, int64_t(t.size()));
      detail::AlignedVector<double, V> lo, hi;
      for (int v = 0; v < V; ++v) {
        lo.e[v] = t[size_t(sv.lo + v)];
        hi.e[v] = t[size_t(sv.hi + v)];
      }
      return detail::funnel<double, V>(lo, hi, int(first & (V - 1)));
    };
    std::vector<double> got_w(ref_w.size(), 0.0), got_b(ref_b.size(), 0.0);
    for (int64_t img = 0; img < p.n; ++img)
      for (int64_t ch = 0; ch < p.c; ++ch)
        for (int64_t cv = 0; cv < col_vecs; ++cv)
          for (int64_t g = 0; g < p.out_h();) {
            const detail::RollingRun run = detail::rolling_run(g, p.out_h(), p.out_h(), q);
            g += run.rows;
            const int outs = int(run.rows);
            const detail::ShiftedColumn sc =
                detail::shifted_column<V>(f, img * p.c + ch, cv * V, run.ho0, outs + p.k - 1);
            for (int t = 0; t < outs; ++t) {
              const auto d = read(dy, sc.dy_off + t * dy_step);
              for (int v = 0; v < V; ++v) {
                const double dv = (sc.dy_mask >> v) & 1u ? d.e[v] : 0.0;
                got_b[size_t(ch)] += dv;
                for (int k = 0; k < p.k; ++k) {
                  const auto xv = read(x, sc.xo.row(t + k));
                  const unsigned mask = sc.xo.used(t + k) ? sc.x_mask : 0u;
                  got_w[size_t(ch * p.k + k)] += dv * ((mask >> v) & 1u ? xv.e[v] : 0.0);
                }
              }
            }
          }
    for (size_t e = 0; e < ref_w.size(); ++e) ASSERT_EQ(got_w[e], ref_w[e]) << what << " dw " << e;
    for (size_t e = 0; e < ref_b.size(); ++e) ASSERT_EQ(got_b[e], ref_b[e]) << what << " dbias " << e;
    ++checked;
  }
  EXPECT_GE(checked, 300);
}

TEST(BackwardPlan, ShiftedWalkMatchesTheReference) {
  check_shifted_walk<2>();
  check_shifted_walk<4>();
  check_shifted_walk<8>();
}

}  // namespace
}  // namespace dwconv
