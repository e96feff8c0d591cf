// dwconv: host-side plans for the backward passes: the forward problem that
// a stride-1 dx is, the strided dx geometry, and the dw tiling with its
// workspace size.
#pragma once

#include <climits>
#include <cstdint>

#include "dwconv/detail/backward_input_kernel.cuh"
#include "dwconv/detail/backward_weight_kernel.cuh"
#include "dwconv/detail/dispatch.cuh"
#include "dwconv/detail/forward_plan.cuh"
#include "dwconv/detail/weight_grad_mma_kernel.cuh"
#include "dwconv/detail/weight_grad_mma_nhwc_kernel.cuh"
#include "dwconv/detail/weight_grad_mma_plane_kernel.cuh"
#include "dwconv/detail/weight_grad_rolling_kernel.cuh"
#include "dwconv/detail/weight_grad_staged_kernel.cuh"
#include "dwconv/policy.cuh"
#include "dwconv/problem.hpp"

namespace dwconv {
namespace detail {

/// With stride 1 along both axes, dx[h] = sum_k w[K-1-k] dy[h - ((K-1) dh -
/// pad_top) + k dh] and dx[w] reads dy[w + pad_left]: a forward convolution
/// of dy (Ho x Wo) with the flipped filter, top padding (K-1) dh - pad_top
/// and left padding -pad_left. Padding here may be negative; the forward
/// kernels only use it as an offset, and the output size is exactly H x W.
inline Problem transposed_problem(const Problem& p) {
  Problem t = p;
  t.h = p.out_h();
  t.w = p.out_w();
  const int span = p.dilation_h * (p.k - 1);
  t.pad_top = span - p.pad_top;
  t.pad_bottom = span - p.pad_bottom;
  t.pad_left = -p.pad_left;
  t.pad_right = -p.pad_right;
  return t;
}

inline bool dx_is_forward(const Problem& p) { return p.stride_h == 1 && p.stride_w == 1; }

/// Threads per block and dx rows per thread of the strided dx kernel.
inline constexpr int kStridedDxThreads = 256;
inline constexpr int kStridedDxRows = 8;

/// Whether the strided dx kernel may use V-element vectors: whole vectors
/// inside each dx row, aligned dx and, in NHWC where a vector reads dy, dy.
template <class T>
bool strided_dx_vectorizable(const Problem& p, const void* dy, const void* dx, int vec) {
  if (vec == 1) return true;
  const int64_t bytes = vec * int64_t(sizeof(T));
  if (p.layout == Layout::NCHW) return aligned_to(dx, bytes) && p.w % vec == 0;
  return aligned_to(dx, bytes) && aligned_to(dy, bytes) && p.c % vec == 0;
}

/// The polyphase strided dx (backward_input_polyphase_kernel): stride_h 2
/// and dilation 1 (the common strided layer) with K in the static table;
/// kPolyphaseRows dy rows a thread, twice as many dx rows. Other strided
/// problems gather (backward_input_strided_kernel).
inline constexpr int kPolyphaseStride = 2;
inline constexpr int kPolyphaseRows = 8;
inline bool dx_is_polyphase(const Problem& p) {
  return p.stride_h == kPolyphaseStride && p.dilation_h == 1 && dispatch_static_k(p.k, [](auto) {});
}

/// Lanes of a polyphase thread: at most a 16-byte vector, and few enough
/// that the sums in flight (two residues of min(R, ceil(K / 2)) rows) stay
/// near 64 registers (fp16 NCHW K = 31 at 8 lanes: 255 registers and
/// spills, ptxas); in NHWC, where every lane keeps its own K weights, at
/// most the forward table's weight lanes.
template <class T, int K, Layout L>
inline constexpr int kPolyphaseVec =
    min_int(min_int(kVecElems16<T>, pow2_floor(64 / (kPolyphaseStride * min_int(kPolyphaseRows, (K + 1) / 2)))),
            L == Layout::NHWC ? DefaultTilePolicy<T, K, L>::kWeightLanes : kVecElems16<T>);

/// Whether the polyphase kernel's NCHW lanes read dy as shifted vectors at
/// stride_w 2 (gather_dy_pairs) for this type and layout. Measured on the
/// H100 at K5 s2 (`2026-11-26-h100-b15.json`, against the 2-byte gathers
/// in the same run): fp16 65 -> 79 %, bf16 65 -> 79 %. fp32 reads two
/// 4-byte elements a row there (91 %) and keeps them.
template <class T, Layout L>
inline constexpr bool kPolyphasePairedDy = L == Layout::NCHW && sizeof(T) == 2;

/// Whether `p` on these pointers can take the paired dy reads with `vec`
/// dx lanes: stride_w 2, at least 4 lanes, and dy aligned to vec / 2
/// elements and a whole number of them long (shifted_vector's bounds).
template <class T>
bool polyphase_dy_pairs(const Problem& p, const void* dy, int vec) {
  if (p.layout != Layout::NCHW || p.stride_w != 2 || vec < 4) return false;
  return aligned_to(dy, vec / 2 * int64_t(sizeof(T))) && p.y_elements() % (vec / 2) == 0;
}

inline BackwardInputParams make_backward_input_params(const Problem& p, int vec) {
  BackwardInputParams b{};
  const bool nchw = p.layout == Layout::NCHW;
  b.planes = nchw ? p.n * p.c : p.n;
  b.h = p.h;
  b.w = p.w;
  b.c = p.c;
  b.out_h = p.out_h();
  b.out_w = p.out_w();
  b.cols = nchw ? p.w : p.w * p.c;
  b.col_vecs = (b.cols + vec - 1) / vec;
  if (dx_is_polyphase(p)) {
    // dx row h is (t, rho) with h + pad_top = 2 t + rho.
    b.t_lo = p.pad_top / kPolyphaseStride;
    const int64_t t_hi = (p.h - 1 + p.pad_top) / kPolyphaseStride;
    b.row_groups = (t_hi - b.t_lo + kPolyphaseRows) / kPolyphaseRows;
  } else {
    b.row_groups = (b.h + kStridedDxRows - 1) / kStridedDxRows;
  }
  b.items = b.planes * b.row_groups * b.col_vecs;
  b.dy_row_pitch = nchw ? b.out_w : b.out_w * p.c;
  b.dy_plane_pitch = b.dy_row_pitch * b.out_h;
  b.k = p.k;
  b.stride_h = p.stride_h;
  b.stride_w = p.stride_w;
  b.dilation_h = p.dilation_h;
  b.pad_top = p.pad_top;
  b.pad_left = p.pad_left;
  const RowWalk walk = row_walk(p);
  b.tap_step = walk.window_step;
  b.row_step = walk.row_step;
  b.dilation_mod = p.dilation_h % p.stride_h;
  b.residues = p.stride_h <= kStridedDxResidues ? p.stride_h : 0;
  for (int r = 0; r < b.residues; ++r) {
    b.first_tap[r] = -1;
    for (int k = 0; k < b.tap_step; ++k)
      if (int64_t(k) * p.dilation_h % p.stride_h == r) {
        b.first_tap[r] = k;
        b.first_back[r] = int((int64_t(k) * p.dilation_h - r) / p.stride_h);
        break;
      }
  }
  return b;
}

/// How a dw / dbias call runs: one launch of a static-K kernel, or (K not in
/// the table, or a window step above 2) one K = 1 launch per tap.
struct WeightGradPlan {
  WeightGradParams params{};
  int static_k = 0;      // kernel height of the launches: p.k, or 1 per tap
  int stride_ratio = 1;  // window step M
  int vec_elems = 1, threads = 0, rows_per_thread = 0;
  bool per_tap = false;
  int64_t workspace_bytes = 0;
  int smem_bytes = 0;  // staged tiling (params.staged): dynamic shared memory
  int staged_vec = 0;  // and the band copies' vector
  // NHWC rows walked in runs (weight_grad_rolling_kernel.cuh): then
  // vec_elems and rows_per_thread are the table's rolling entry (lanes, rows
  // in flight) and params.tiles the grid, one workspace slot a block.
  bool rolling = false;
};

/// Workspace bytes of a tiling's partial sums: one a (slot, channel, tap).
template <class T>
int64_t weight_grad_slot_bytes(const WeightGradParams& f) {
  return f.slots * f.c * f.ws_taps * int64_t(sizeof(typename NumericTraits<T>::Accum));
}

/// Blocks the dw tiling aims for: at most kWeightGradMaxTiles (several per
/// multiprocessor), and fewer when that would leave a thread under
/// kWeightGradMinUnits row units (NCHW: (unit, column) items), down to
/// kWeightGradMinTiles: a block's reduction and its partial sums must stay a
/// small share of its work.
inline constexpr int64_t kWeightGradMaxTiles = 2048;
inline constexpr int64_t kWeightGradMinTiles = 512;
inline constexpr int64_t kWeightGradMinUnits = 4;

/// The NCHW staged and tensor-core dw tilings aim for up to this many
/// blocks at stride_h 1 below kTallKernelHeight, and kWeightGradMaxTiles
/// elsewhere (chunk_target has the exceptions). Measured on the H100 against
/// 2048 (`2026-11-26-h100-b25-ab.txt`): the 2-byte padded seed (tensor
/// cores) 80.4 -> 85.9 %, 56x56 72.8 -> 74.6 %, fp32 56x56 (staged) 79.4 ->
/// 81.3 %, 2-byte d2 (staged) 86.3 -> 87.4 %; K5 at stride 2 (staged) lost
/// 1.3-1.8 points (`-b25.1-ab.txt`: fp16 92.0 -> 90.6 %).
inline constexpr int64_t kWeightGradChunkMaxTiles = 2 * kWeightGradMaxTiles;

/// Band bytes a chunk of the NCHW tensor-core dw tile holds at least below
/// K15 (chunk_target).
inline constexpr int64_t kDwMmaChunkBytes = 32 * 1024;

/// How the chunked NCHW dw tilings deal pieces: chunks for up to `most`
/// blocks in all, each at least `least` pieces (where the pieces allow).
struct ChunkTarget {
  int64_t most, least;
};

/// The chunk target of `p` on the staged tiling or, `tensor_cores`, the
/// tensor-core tile, from b25 and b41 (bench/NOTES.md, H100). The tall
/// tensor-core tile (K >= 15) takes 512 blocks: a block reduces K + 1 sums
/// a thread at its end and carries its x halo from piece to piece only
/// within a chunk, so at K31 (16 pieces a chunk, a whole plane) 80.7 ->
/// 85.3 % over 2048 blocks (`-b41-ab.txt`), and 1408 blocks (5.3 waves)
/// lost 1.5. Below K15 the tensor-core tile takes up to 16384 blocks of at
/// least kDwMmaChunkBytes of bands (`piece_bytes` a piece; b42: K9 +1.3 /
/// +1.5 over b41.1's 8192 blocks of two pieces, which gave the padded seed
/// +1.9-2.8 and K9 +1.8-2.1): one piece for the seeds, K7 and K9, two at
/// 56x56 (planes of 18 KiB; one piece a chunk lost 8.5 there, b41).
inline ChunkTarget chunk_target(const Problem& p, bool tensor_cores, int64_t piece_bytes) {
  if (p.k >= kTallKernelHeight) return {tensor_cores ? kWeightGradMaxTiles / 4 : kWeightGradMaxTiles, 1};
  if (p.stride_h != 1) return {kWeightGradMaxTiles, 1};
  if (tensor_cores) {
    const int64_t least = piece_bytes > 0 ? (kDwMmaChunkBytes + piece_bytes - 1) / piece_bytes : 1;
    return {4 * kWeightGradChunkMaxTiles, least};
  }
  return {kWeightGradChunkMaxTiles, 1};
}

/// The NCHW staged and tensor-core dw tilings' chunks: f.tile_rows dy rows
/// a piece, pieces of every image of a channel dealt to about t.most / C
/// chunks of at least t.least pieces (chunk_target), one block tile and one
/// workspace slot each. This overload: chunks of `per_chunk` pieces,
/// f.bands_per_plane set (the GPU tests deal several pieces a chunk to
/// small problems).
inline void chunk_pieces(const Problem& p, WeightGradParams& f, int64_t per_chunk) {
  const int64_t pieces = p.n * f.bands_per_plane;
  f.pieces_per_chunk = per_chunk;
  f.row_chunks = (pieces + per_chunk - 1) / per_chunk;
  f.tiles = p.c * f.row_chunks;
  f.slots = f.row_chunks;
}
inline void chunk_pieces(const Problem& p, WeightGradParams& f, ChunkTarget t) {
  f.bands_per_plane = (p.out_h() + f.tile_rows - 1) / f.tile_rows;
  const int64_t pieces = p.n * f.bands_per_plane;
  int64_t chunks = (t.most + p.c - 1) / p.c;
  if (chunks > pieces / t.least) chunks = pieces / t.least;
  if (chunks < 1) chunks = 1;
  chunk_pieces(p, f, (pieces + chunks - 1) / chunks);
}

/// Plans the staged NHWC dw tiling (params.staged) where it applies: stride
/// 1 along W, so a piece's x columns are its dy columns shifted by
/// pad_left; the vector tiling; and C / V a power of two up to the block,
/// so each thread keeps one channel vector and block_sum groups threads by
/// it. A piece is tile_rows dy rows by piece_pixels pixels by every channel;
/// both bands fit the staged kernels' shared-memory budget.
template <class T>
void plan_weight_grad_staged_nhwc(const Problem& p, int rows_per_thread, int row_step, WeightGradPlan& plan) {
  using A = typename NumericTraits<T>::Accum;
  const int vec = plan.vec_elems;
  if (p.stride_w != 1 || vec == 1 || p.c % vec != 0) return;
  const int64_t channel_vecs = p.c / vec;
  if (channel_vecs > plan.threads || (channel_vecs & (channel_vecs - 1)) != 0) return;
  const int64_t budget = p.k >= kStagedTallK ? kStagedTallSmemBudget : kStagedSmemBudget;
  const int64_t unit_rows = int64_t(rows_per_thread) * row_step;
  const int64_t ho = p.out_h(), wo = p.out_w();
  const int64_t halo = staged_band_rows(1, p.stride_h, p.k, p.dilation_h) - 1;
  auto pixels_for = [&](int64_t tile) {
    return budget / ((staged_band_rows(tile, p.stride_h, p.k, p.dilation_h) + tile) * p.c * int64_t(sizeof(T)));
  };
  // Pieces twice as tall as the halo, so that the x rows a piece shares with
  // the next (read again, from L2) stay under half of its band; shorter
  // where not one pixel would fit, and where the GPU would get too few pieces.
  const int64_t rows_cap = round_up(ho, unit_rows);
  const int64_t want = round_up(2 * halo / p.stride_h > unit_rows ? 2 * halo / p.stride_h : unit_rows, unit_rows);
  int64_t tile = want < rows_cap ? want : rows_cap;
  while (tile > unit_rows && pixels_for(tile) < 1) tile -= unit_rows;
  int64_t pixels = pixels_for(tile) < wo ? pixels_for(tile) : wo;
  if (pixels < 1) return;
  const int64_t pixel_blocks = (wo + pixels - 1) / pixels;
  pixels = (wo + pixel_blocks - 1) / pixel_blocks;
  auto pieces_for = [&](int64_t t) { return p.n * pixel_blocks * ((ho + t - 1) / t); };
  while (tile > unit_rows && pieces_for(tile) < kWeightGradMinTiles) tile -= unit_rows;
  const int64_t pieces = pieces_for(tile);
  // Blocks: as the other tilings, but with the workspace's traffic (written
  // and read once) under about 1/16 of the data's.
  const int64_t data_bytes = (p.x_elements() + p.y_elements()) * int64_t(sizeof(T));
  const int64_t ws_share = data_bytes / (32 * p.c * (p.k + 1) * int64_t(sizeof(A)));
  int64_t chunks = ws_share < kWeightGradMinTiles ? kWeightGradMinTiles : ws_share;
  if (chunks > kWeightGradMaxTiles) chunks = kWeightGradMaxTiles;
  if (chunks > pieces) chunks = pieces;

  WeightGradParams& f = plan.params;
  f.staged = true;
  f.tile_rows = int(tile);
  f.piece_pixels = pixels;
  f.pixel_blocks = pixel_blocks;
  f.pixels_per_thread = 1;
  f.bands_per_plane = (ho + tile - 1) / tile;
  f.pieces_per_chunk = (pieces + chunks - 1) / chunks;
  f.row_chunks = (pieces + f.pieces_per_chunk - 1) / f.pieces_per_chunk;
  f.tiles = f.row_chunks;
  f.slots = f.row_chunks;
  f.col_blocks = 1;
  f.col_threads_log2 = log2_ceil(channel_vecs);
  f.smem_x_elems = int(staged_band_rows(tile, p.stride_h, p.k, p.dilation_h) * pixels * p.c);
  plan.rows_per_thread = rows_per_thread;
  plan.smem_bytes = int((f.smem_x_elems + tile * pixels * p.c) * int64_t(sizeof(T)));
  plan.staged_vec = vec;
}

/// Whether the rolling dw kernel can walk `p` with `vec` lanes a thread and
/// `threads` a block, pointers and the row geometry of vectors aside
/// (vectorizable()): stride_h 1, a run's steps countable in int and, in
/// NHWC, C / vec a power of two up to the block.
inline bool rolling_weight_grad_fits(const Problem& p, int vec, int threads) {
  if (p.stride_h != 1 || p.out_h() >= (int64_t(1) << 30) || vec < 1) return false;
  if (p.layout == Layout::NCHW) return true;
  if (p.c % vec != 0) return false;
  const int64_t channel_vecs = p.c / vec;
  return channel_vecs <= threads && (channel_vecs & (channel_vecs - 1)) == 0;
}

/// The lanes of the table's rolling dw entry when it takes `p` (K in the
/// static table, an entry for it), else 0. NCHW rows that vectors cannot
/// walk take the entry with one lane.
template <class T>
int rolling_weight_grad_vec(const Problem& p) {
  int vec = 0, threads = 0;
  dispatch_static_k(p.k, [&](auto k_const) {
    dispatch_layout(p.layout, [&](auto layout_const) {
      using Table = DefaultWeightGradPolicy<T, decltype(k_const)::value, decltype(layout_const)::value>;
      vec = Table::kRollingVec;
      threads = Table::rolling::kThreads;
    });
  });
  return vec > 0 && rolling_weight_grad_fits(p, vec, threads) ? vec : 0;
}

/// Blocks a channel of the NCHW rolling dw grid, for `wave` resident blocks
/// and `rows` rows a channel: from floor(wave / c) (or the most allowed)
/// up, the first count b that fills at least 95 % of the waves it takes
/// (c * b blocks over ceil(c * b / wave) waves), else the fullest; at least
/// 1, at most `rows` and kRollingNchwMaxTiles blocks in all (where that
/// allows).
/// A block sums one channel, so floor(wave / c) left a fifth of the GPU idle
/// where c is a few hundred (C = 256 or 512 on the H100's ~660: 78 %).
inline constexpr int64_t kRollingNchwMaxTiles = 4 * kWeightGradMaxTiles;
inline int64_t rolling_nchw_blocks_per_channel(int64_t c, int64_t rows, int64_t wave) {
  if (wave < 1) wave = 1;
  int64_t most = kRollingNchwMaxTiles / c;
  if (most > rows) most = rows;
  if (most < 1) most = 1;
  int64_t best = 1;
  double best_fill = 0;
  const int64_t first = wave / c > 1 ? wave / c : 1;
  for (int64_t b = first < most ? first : most; b <= most; ++b) {
    const int64_t tiles = c * b;
    const double fill = double(tiles) / double((tiles + wave - 1) / wave * wave);
    if (fill >= 0.95) return b;
    if (fill > best_fill) {
      best_fill = fill;
      best = b;
    }
  }
  return best;
}

/// Output rows of an NCHW rolling dw run: a column's rows of one residue
/// of the dilation.
inline int64_t rolling_nchw_run_rows(const Problem& p) { return (p.out_h() + p.dilation_h - 1) / p.dilation_h; }

/// The table's least rows a run (0: never) at which NCHW rows that the
/// rolling entry's vectors cannot walk take shifted vectors
/// (kRollingNchwShiftedRows) or else one lane (kRollingNchwOneLaneRows).
template <class T, bool Shifted>
int rolling_nchw_min_rows(const Problem& p) {
  int rows = 0;
  dispatch_static_k(p.k, [&](auto k_const) {
    using Table = DefaultWeightGradPolicy<T, decltype(k_const)::value, Layout::NCHW>;
    rows = Shifted ? Table::kRollingNchwShiftedRows : Table::kRollingNchwOneLaneRows;
  });
  return rows;
}

/// Whether the table sends NCHW rows that the rolling entry's vectors cannot
/// walk to the rolling kernel with one lane: columns of at least
/// kRollingNchwOneLaneRows rows a run.
template <class T>
bool rolling_weight_grad_nchw_one_lane(const Problem& p) {
  const int min_rows = rolling_nchw_min_rows<T, false>(p);
  return min_rows > 0 && rolling_nchw_run_rows(p) >= min_rows;
}

/// Whether NCHW rows that `vec`-lane vectors cannot walk can be read as
/// shifted vectors (shifted_vector.cuh): stride 1 along W, x and dy aligned
/// to the vector and each a whole number of vectors long, so that the two
/// aligned vectors around any element stay inside the tensor or wholly out.
template <class T>
bool rolling_weight_grad_shifted_fits(const Problem& p, const void* x, const void* dy, int vec) {
  if (p.layout != Layout::NCHW || p.stride_w != 1 || vec < 2) return false;
  const int64_t bytes = vec * int64_t(sizeof(T));
  return aligned_to(x, bytes) && aligned_to(dy, bytes) && p.x_elements() % vec == 0 && p.y_elements() % vec == 0;
}

/// The widest lanes, from `vec` down to 2, whose vectors walk p's NCHW rows
/// at a fixed x phase (fixed_x_shift, dy in y's place), where the table's entry
/// for (T, K) takes them (kRollingNchwFixedShiftRows) and a column's runs
/// are long enough, or `any_rows` (kRolling); else 0.
template <class T>
int rolling_weight_grad_fixed_shift_vec(const Problem& p, const void* x, const void* dy, int vec, bool any_rows) {
  int min_rows = 0;
  dispatch_static_k(p.k, [&](auto k_const) {
    min_rows = DefaultWeightGradPolicy<T, decltype(k_const)::value, Layout::NCHW>::kRollingNchwFixedShiftRows;
  });
  if (min_rows <= 0 || (!any_rows && rolling_nchw_run_rows(p) < min_rows)) return 0;
  for (int v = vec; v >= 2; v /= 2)
    if (fixed_x_shift<T>(p, x, dy, v) >= 0) return v;
  return 0;
}

/// Whether the table reads NCHW rows off the vector as shifted vectors: its
/// entry for (T, K) has them (kRollingNchwShifted) and a column's runs are
/// at least kRollingNchwShiftedRows rows, or `any_rows` (kRolling).
template <class T>
bool rolling_weight_grad_nchw_shifted(const Problem& p, bool any_rows) {
  const int min_rows = rolling_nchw_min_rows<T, true>(p);
  return min_rows > 0 && (any_rows || rolling_nchw_run_rows(p) >= min_rows);
}

/// Sets the rolling dw tiling (`threads` a block, `vec` lanes, `ahead` rows
/// in flight) on a plan whose common fields are set, for a grid of about
/// `blocks` blocks (one wave). NHWC: capped by kWeightGradMaxTiles and the
/// rows, each block an equal share of the pixel_blocks * out_h rows,
/// pixel_blocks blocks of consecutive (image, pixel) slots, piece_pixels
/// (out_w) pixels a row.
/// NCHW: row_chunks blocks a channel (rolling_nchw_blocks_per_channel),
/// each an equal share of its
/// pixel_blocks * out_h rows, pixel_blocks blocks of `threads` consecutive
/// (image, column vector) slots, piece_pixels column vectors a row.
template <class T>
void plan_weight_grad_rolling(const Problem& p, int threads, int ahead, int vec, int64_t blocks, WeightGradPlan& plan) {
  plan.threads = threads;
  plan.rows_per_thread = ahead;
  plan.vec_elems = vec;
  WeightGradParams& f = plan.params;
  f.row_step = p.dilation_h;
  f.pixels_per_thread = 1;
  f.col_blocks = 1;
  if (p.layout == Layout::NCHW) {
    // Thread slots are (image, column vector) pairs of one channel, row-major:
    // a block's threads take `threads` consecutive slots, wrapping from one
    // image's row to the next, so only a channel's last block idles part of
    // its threads. Power-of-two column blocks left 6-31 % of the threads idle
    // (64 x 2 for 58 columns, 32 x 9 for 264), and lanes of one warp spread
    // over images each fetched their own sectors (2 lanes a row, 64 images:
    // 8 % of the floor on the H100).
    const int64_t col_vecs = (f.out_w + vec - 1) / vec;
    f.col_threads_log2 = 0;
    f.piece_pixels = col_vecs;
    f.pixel_blocks = (p.n * col_vecs + threads - 1) / threads;
    const int64_t rows = f.pixel_blocks * f.out_h;
    f.row_chunks = rolling_nchw_blocks_per_channel(p.c, rows, blocks);
    f.slots = f.row_chunks;
    f.tiles = p.c * f.row_chunks;
  } else {
    f.col_threads_log2 = log2_ceil(p.c / vec);
    // (image, pixel) slots, wrapping across images as NCHW's do.
    const int64_t block_pixels = int64_t(threads) >> f.col_threads_log2;
    f.piece_pixels = f.out_w;
    f.pixel_blocks = (p.n * f.out_w + block_pixels - 1) / block_pixels;
    const int64_t rows = f.pixel_blocks * f.out_h;
    int64_t cap = blocks < kWeightGradMaxTiles ? blocks : kWeightGradMaxTiles;
    if (cap > rows) cap = rows;
    f.tiles = cap < 1 ? 1 : cap;
    f.slots = f.tiles;
    f.row_chunks = f.tiles;
  }
  f.staged = false;
  plan.per_tap = false;
  plan.smem_bytes = plan.staged_vec = 0;
  plan.rolling = true;
  plan.workspace_bytes = weight_grad_slot_bytes<T>(f);
}

/// The register or staged dw tiling of `p`, with vectors where vector_access
/// (the pointers allow them); the rolling tiling is plan_weight_grad_rolling's.
template <class T>
WeightGradPlan plan_weight_grad(const Problem& p, bool vector_access) {
  WeightGradPlan plan;
  const RowWalk walk = row_walk(p);
  const int ratio = walk.window_step;
  int row_step = walk.row_step;
  int staged_nhwc_rows = 0;
  auto take = [&](auto k_const) {
    dispatch_layout(p.layout, [&](auto layout_const) {
      using Table = DefaultWeightGradPolicy<T, decltype(k_const)::value, decltype(layout_const)::value>;
      using P = typename Table::type;
      using S = typename Table::scalar;
      // A table entry whose vector is one element runs the scalar tiling:
      // the launcher picks the kernel by vec_elems alone.
      const bool vec = vector_access && P::kVecElems > 1;
      plan.threads = vec ? P::kThreads : S::kThreads;
      plan.rows_per_thread = vec ? P::kRowsPerThread : S::kRowsPerThread;
      plan.vec_elems = vec ? P::kVecElems : S::kVecElems;
      staged_nhwc_rows = Table::staged_nhwc::kRowsPerThread;
    });
  };
  if (ratio <= 2 && dispatch_static_k(p.k, take)) {
    plan.static_k = p.k;
    plan.stride_ratio = ratio;
  } else {
    // Tap by tap: a K = 1 window whose rows step by the stride.
    take(std::integral_constant<int, 1>{});
    plan.static_k = 1;
    plan.stride_ratio = 1;
    plan.per_tap = true;
    row_step = 1;
  }

  WeightGradParams& f = plan.params;
  const bool nchw = p.layout == Layout::NCHW;
  const int64_t ho = p.out_h(), wo = p.out_w();
  f.n = p.n;
  f.h = p.h;
  f.out_h = ho;
  f.w = p.w;
  f.out_w = wo;
  f.c = p.c;
  f.x_row_pitch = nchw ? p.w : p.w * p.c;
  f.dy_row_pitch = nchw ? wo : wo * p.c;
  f.x_plane_pitch = f.x_row_pitch * p.h;
  f.dy_plane_pitch = f.dy_row_pitch * ho;
  f.cols = nchw ? wo : p.c;
  f.k = plan.static_k;
  f.stride_h = p.stride_h;
  f.stride_w = p.stride_w;
  f.dilation_h = plan.per_tap ? p.stride_h : p.dilation_h;
  f.pad_top = p.pad_top;
  f.pad_left = p.pad_left;
  f.row_step = row_step;
  f.ws_taps = p.k + 1;
  f.tap_base = 0;
  f.write_bias = true;

  const int vec = plan.vec_elems;
  const int64_t col_vecs = (f.cols + vec - 1) / vec;
  const int64_t rows_per_unit = int64_t(plan.rows_per_thread) * row_step;
  f.units_per_plane = (ho + rows_per_unit - 1) / rows_per_unit * row_step;
  f.units = p.n * f.units_per_plane;
  // Tiles: aim for `target`, giving each thread as much work as that allows
  // (NCHW: (unit, column) items; NHWC: units, then output pixels), so that
  // few partial sums reach the workspace.
  auto clamp = [](int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); };
  // NCHW rows on the scalar tiling stage their bands in shared memory when a
  // piece fits (the forward's staged plan: dy plays y).
  KernelChoice staged;
  if (nchw && plan.vec_elems == 1 && !plan.per_tap) {
    staged.rows_per_thread = plan.rows_per_thread;
    staged.row_step = row_step;
    plan_staged<T>(p, kVecElems16<T>, staged);
  }
  f.staged = staged.staged;
  // NHWC rows on the vector tiling stage too, where their pieces fit
  // (plan_weight_grad_staged_nhwc sets the whole tiling).
  if (!nchw && !plan.per_tap) plan_weight_grad_staged_nhwc<T>(p, staged_nhwc_rows, row_step, plan);
  if (f.staged && nchw) {
    f.col_threads_log2 = 0;
    f.col_blocks = 1;
    f.pixel_blocks = 1;
    f.pixels_per_thread = 1;
    f.tile_rows = staged.staged_tile_rows;
    f.smem_x_elems = staged.staged_in_elems;
    chunk_pieces(p, f, chunk_target(p, false, staged.smem_bytes));
    plan.smem_bytes = staged.smem_bytes;
    plan.staged_vec = staged.staged_vec;
  } else if (nchw) {
    f.col_threads_log2 = 0;
    f.col_blocks = 1;
    f.pixel_blocks = 1;
    f.pixels_per_thread = 1;
    const int64_t items_max = (f.units * col_vecs + plan.threads - 1) / plan.threads;  // per thread, one chunk
    const int64_t target = clamp(p.c * items_max / kWeightGradMinUnits, kWeightGradMinTiles, kWeightGradMaxTiles);
    const int64_t per_thread = clamp(p.c * items_max / target, 1, items_max);
    f.units_per_chunk = clamp((per_thread * plan.threads + col_vecs - 1) / col_vecs, 1, f.units);
    f.row_chunks = (f.units + f.units_per_chunk - 1) / f.units_per_chunk;
    f.tiles = p.c * f.row_chunks;
    f.slots = f.row_chunks;
  } else if (!f.staged) {
    const int threads_log2 = log2_ceil(plan.threads);
    f.col_threads_log2 = log2_ceil(col_vecs) < threads_log2 ? log2_ceil(col_vecs) : threads_log2;
    const int64_t row_threads = int64_t(plan.threads) >> f.col_threads_log2;
    f.col_blocks = (col_vecs + (int64_t(1) << f.col_threads_log2) - 1) >> f.col_threads_log2;
    const int64_t pixel_groups = (wo + row_threads - 1) / row_threads;
    const int64_t base_tiles = pixel_groups * f.col_blocks;
    const int64_t target = clamp(base_tiles * f.units / kWeightGradMinUnits, kWeightGradMinTiles, kWeightGradMaxTiles);
    f.units_per_chunk = clamp(base_tiles * f.units / target, 1, f.units);
    f.row_chunks = (f.units + f.units_per_chunk - 1) / f.units_per_chunk;
    f.pixels_per_thread = f.row_chunks == 1 ? clamp(base_tiles / target, 1, pixel_groups) : 1;
    f.pixel_blocks = (pixel_groups + f.pixels_per_thread - 1) / f.pixels_per_thread;
    f.tiles = f.row_chunks * f.pixel_blocks * f.col_blocks;
    f.slots = f.row_chunks * f.pixel_blocks;
  }
  plan.workspace_bytes = weight_grad_slot_bytes<T>(f);
  return plan;
}

/// What the tensor-core dw tilings share: plan_weight_grad's geometry (its
/// scalar tiling's), at the problem's static height, `threads` a block,
/// dy rows one by one; the tiling fills in its blocks and chunks.
template <class T>
WeightGradPlan tensor_core_weight_grad_plan(const Problem& p, int threads) {
  WeightGradPlan plan = plan_weight_grad<T>(p, false);
  WeightGradParams& f = plan.params;
  f.staged = false;
  f.k = p.k;
  f.row_step = 1;
  f.col_threads_log2 = 0;
  f.pixels_per_thread = 1;
  plan.static_k = p.k;
  plan.per_tap = plan.rolling = false;
  plan.threads = threads;
  return plan;
}

/// Plans the tensor-core dw tile (weight_grad_mma_kernel.cuh) for `threads`
/// a block, with the x / dy bands at a conflict-free pitch where `x_boxed` /
/// `dy_boxed` (rows of whole 16-byte vectors, mma_band_boxed); false where
/// the tile does not apply (mma_applies) or 16 dy rows with their x rows
/// exceed the forward's tensor-core budget. Tiles grow as the forward's do;
/// pieces and chunks as in the staged NCHW tiling.
template <class T>
bool plan_weight_grad_mma(const Problem& p, bool x_boxed, bool dy_boxed, int threads, WeightGradPlan& plan) {
  if (!mma_applies<T>(p) || !dispatch_static_k(p.k, [](auto) {})) return false;
  const int64_t budget = p.k >= kStagedTallK ? kMmaTallSmemBudget : kStagedSmemBudget;
  constexpr int64_t kV = kVecElems16<T>;
  const int64_t wo = p.out_w();
  const int64_t x_pitch = x_boxed ? conflict_free_pitch(p.w) : p.w;
  const int64_t dy_pitch = dy_boxed ? conflict_free_pitch(wo) : wo;
  auto x_elems = [&](int64_t tile_rows) {
    return round_up(dw_mma_x_rows(tile_rows, p.k) * x_pitch + 2 * kV + kDwMmaTail, kV);
  };
  auto bytes = [&](int64_t tile_rows) {
    const int64_t bands = (x_elems(tile_rows) + tile_rows * dy_pitch + 2 * kV + kDwMmaTail) * int64_t(sizeof(T));
    const int64_t sums = dw_mma_sum_bytes(threads, p.k);
    return bands > sums ? bands : sums;
  };
  if (bytes(16) > budget) return false;
  const int64_t tile = staged_tile_rows(p, 16, budget, true, bytes);
  plan = tensor_core_weight_grad_plan<T>(p, threads);
  WeightGradParams& f = plan.params;
  f.col_blocks = f.pixel_blocks = 1;
  f.tile_rows = int(tile);
  f.smem_x_elems = int(x_elems(tile));
  f.x_band_pitch = int(x_pitch);
  f.dy_band_pitch = int(dy_pitch);
  chunk_pieces(p, f, chunk_target(p, true, bytes(tile)));
  plan.smem_bytes = int(bytes(tile));
  plan.staged_vec = int(kV);
  plan.workspace_bytes = weight_grad_slot_bytes<T>(f);
  return true;
}

/// Shared memory the plane tile (weight_grad_mma_plane_kernel.cuh) may take
/// for a block's two plane buffers: the default limit, no opt-in.
inline constexpr int64_t kDwPlaneSmemBytes = 48 * 1024;

/// Sets the plane tile's chunks: `per_chunk` images of a channel a tile.
inline void chunk_images(const Problem& p, WeightGradParams& f, int64_t per_chunk) {
  f.pieces_per_chunk = per_chunk;
  f.row_chunks = (p.n + per_chunk - 1) / per_chunk;
  f.tiles = p.c * f.row_chunks;
  f.slots = f.row_chunks;
}

/// Plans the NCHW plane tile where it takes `p` with these pointers: the
/// staged tile's problems (mma_applies, a static K) whose x rows are an odd
/// number of 16-byte vectors (packed rows that ldmatrix reads without bank
/// conflicts), x and dy 16-byte aligned with dy's planes whole vectors, and
/// two buffers of a plane (x rows from -pad_top to dw_mma_x_rows of
/// out_h rounded up to 16, dy's rows as many) within kDwPlaneSmemBytes.
/// Chunks: one image a tile (a block a plane, one buffer: more blocks a
/// multiprocessor beat a second buffer, b51.1), or as many as keep a
/// channel's slots within the staged tile's (chunk_target), so the
/// workspace query holds. The kernel takes a tile a block: tiles past a
/// grid's INT_MAX blocks go to the staged tile, which walks its tiles.
template <class T>
bool plan_weight_grad_mma_plane(const Problem& p, const void* x, const void* dy, WeightGradPlan& out) {
  constexpr int64_t kV = kVecElems16<T>;
  if (!mma_applies<T>(p) || !dispatch_static_k(p.k, [](auto) {})) return false;
  if (p.w % (2 * kV) != kV || !aligned_to(x, 16) || !aligned_to(dy, 16)) return false;
  const int64_t ho = p.out_h(), wo = p.out_w();
  if (ho * wo % kV != 0) return false;
  const int64_t tile = round_up(ho, int64_t(16));
  const int64_t x_rows = dw_mma_x_rows(tile, p.k);
  if (p.pad_top + p.h > x_rows) return false;
  const int64_t x_elems = round_up(x_rows * p.w + kDwMmaTail, kV);
  if (2 * dw_plane_buffer_bytes<T>(x_elems, tile, wo) > kDwPlaneSmemBytes) return false;
  WeightGradPlan plan = tensor_core_weight_grad_plan<T>(p, kDwPlaneThreads);
  WeightGradParams& f = plan.params;
  f.col_blocks = f.pixel_blocks = 1;
  f.tile_rows = int(tile);
  f.bands_per_plane = 1;
  f.smem_x_elems = int(x_elems);
  const int64_t most = chunk_target(p, true, 0).most;
  const int64_t slots = (most + p.c - 1) / p.c < p.n ? (most + p.c - 1) / p.c : p.n;
  chunk_images(p, f, (p.n + slots - 1) / slots);
  if (f.tiles > INT_MAX) return false;
  plan.smem_bytes = dw_plane_smem_bytes<T>(f, kDwPlaneThreads, int(p.k));
  plan.staged_vec = 0;
  plan.workspace_bytes = weight_grad_slot_bytes<T>(f);
  out = plan;
  return true;
}

/// Whether the NHWC tensor-core dw tile (weight_grad_mma_nhwc_kernel.cuh)
/// takes `p` with these pointers: 2-byte types at stride 1 and dilation 1,
/// a static K, whole groups of kDwMmaNhwcChannels channels read as 16-byte
/// vectors of aligned tensors, a column's row blocks counted in int.
template <class T>
bool mma_nhwc_weight_grad_applies(const Problem& p, const void* x, const void* dy) {
  return sizeof(T) == 2 && p.layout == Layout::NHWC && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 &&
         p.c % kDwMmaNhwcChannels == 0 && aligned_to(x, 16) && aligned_to(dy, 16) &&
         dispatch_static_k(p.k, [](auto) {}) && p.out_h() < (int64_t(1) << 30);
}

/// Plans the NHWC tensor-core dw tile for a grid of about `blocks` (one
/// wave): steps of 16 dy rows by kDwMmaNhwcCols columns, numbered column
/// by column, dealt in equal chunks to blocks / (C / kDwMmaNhwcChannels)
/// tiles a channel group (at least one, at most a step each and
/// kWeightGradMaxTiles), one workspace slot a chunk. A chunk's columns
/// each stage their lead rows again, so chunks as long as one wave allows.
template <class T>
void plan_weight_grad_mma_nhwc(const Problem& p, int64_t blocks, WeightGradPlan& plan) {
  plan = tensor_core_weight_grad_plan<T>(p, kDwMmaNhwcThreads);
  WeightGradParams& f = plan.params;
  f.col_blocks = p.c / kDwMmaNhwcChannels;
  f.pixel_blocks = (p.out_w() + kDwMmaNhwcCols - 1) / kDwMmaNhwcCols;
  f.tile_rows = 16;
  f.bands_per_plane = (p.out_h() + 15) / 16;
  const int64_t steps = p.n * f.pixel_blocks * f.bands_per_plane;
  int64_t chunks = blocks / f.col_blocks;
  if (chunks > kWeightGradMaxTiles) chunks = kWeightGradMaxTiles;
  if (chunks > steps) chunks = steps;
  if (chunks < 1) chunks = 1;
  f.pieces_per_chunk = (steps + chunks - 1) / chunks;
  f.row_chunks = (steps + f.pieces_per_chunk - 1) / f.pieces_per_chunk;
  f.tiles = f.col_blocks * f.row_chunks;
  f.slots = f.row_chunks;
  plan.smem_bytes = DwMmaNhwcSmem{p.k}.bytes();
  plan.staged_vec = 0;
  plan.workspace_bytes = weight_grad_slot_bytes<T>(f);
}

/// Whether a dw tensor-core band of rows of `len` elements at `ptr` can be
/// staged at a conflict-free pitch: whole 16-byte vectors from an aligned
/// tensor.
template <class T>
bool mma_band_boxed(int64_t len, const void* ptr) {
  return len % kVecElems16<T> == 0 && aligned_to(ptr, 16);
}

/// Workspace a dw / dbias call on `p` needs, whatever its pointers' alignment
/// (the vector and scalar tilings differ) and GPU.
template <class T>
int64_t weight_grad_workspace_bytes(const Problem& p) {
  using A = typename NumericTraits<T>::Accum;
  const int64_t a = plan_weight_grad<T>(p, true).workspace_bytes;
  const int64_t b = plan_weight_grad<T>(p, false).workspace_bytes;
  // The rolling grid depends on the GPU and, through a benchmark's explicit
  // tiling (launch_weight_grad_rolling), on the lanes: in NHWC at most
  // kWeightGradMaxTiles blocks and one per (row, pixel) pair; in NCHW at
  // most kRollingNchwMaxTiles and at least one a channel.
  int64_t r = 0;
  if (p.stride_h == 1) {
    const int64_t pairs = p.n * p.out_h() * p.out_w();
    const int64_t slots = p.layout == Layout::NHWC ? (pairs < kWeightGradMaxTiles ? pairs : kWeightGradMaxTiles)
                                                   : (kRollingNchwMaxTiles / p.c > 1 ? kRollingNchwMaxTiles / p.c : 1);
    r = slots * p.c * (p.k + 1) * int64_t(sizeof(A));
  }
  // The NHWC tensor-core tiling (stride_h 1) neither: its slots, at most
  // kWeightGradMaxTiles and one a step of 16 x kDwMmaNhwcCols pixels, fit
  // the rolling term's.
  // The NCHW tensor-core tiling, chosen at launch from the pointers: at
  // most ceil(most / C) slots a channel (chunk_pieces).
  if (mma_applies<T>(p)) {
    const int64_t most = chunk_target(p, true, 0).most;
    const int64_t chunked = (most + p.c - 1) / p.c * p.c * (p.k + 1) * int64_t(sizeof(A));
    if (chunked > r) r = chunked;
  }
  const int64_t ab = a > b ? a : b;
  return ab > r ? ab : r;
}

}  // namespace detail
}  // namespace dwconv
