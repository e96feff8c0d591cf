// dwconv: host-side choice of kernel and launch geometry for a forward call.
#pragma once

#include <cstdint>

#include "dwconv/detail/dispatch.cuh"
#include "dwconv/detail/forward_kernel.cuh"
#include "dwconv/detail/forward_mma_kernel.cuh"
#include "dwconv/detail/forward_mma_nhwc_kernel.cuh"
#include "dwconv/detail/staged_band.cuh"
#include "dwconv/policy.cuh"
#include "dwconv/problem.hpp"

namespace dwconv {
namespace detail {

/// Which kernel a call runs. Tests read it to prove every specialization ran.
struct KernelChoice {
  int static_k = 0;      // 0: runtime-K kernel
  int stride_ratio = 0;  // window step M of the static kernel (1 or 2); 0 for runtime K
  int row_step = 1;      // distance between a thread's output rows
  int vec_elems = 1;     // elements per access: the policy's, or 1 (scalar path)
  int threads = 0, rows_per_thread = 0;
  // NCHW rows that vectors cannot walk: the shared-memory staged kernel
  // (forward_staged_kernel.cuh) with tiles of staged_tile_rows output rows.
  bool staged = false;
  int staged_tile_rows = 0;
  int staged_in_elems = 0;    // input band capacity, elements
  int staged_vec = 0;         // elements per band copy vector (the policy's vector)
  bool staged_pairs = false;  // the staged kernel's threads own column pairs (kPairs)
  // Staged tiles over column strips of this many output columns (forward_strips_nchw_kernel),
  // and their shared row pitches (x's box, y's strip); 0: whole rows.
  int staged_strip_cols = 0;
  int staged_in_pitch = 0, staged_out_pitch = 0;
  int smem_bytes = 0;
  // A staged tile computed on tensor cores (forward_mma_kernel.cuh); then
  // rows_per_thread is the 16 rows of an mma block.
  bool mma = false;
  bool mma_aligned_rows = false;  // the band at a pitch for ldmatrix (else contiguous)
  bool mma_band_ring = false;     // one wave of blocks, each keeping its band as a ring (kMmaBandRingMinK)
  // Stride-1 rows walked by the rolling kernel (forward_rolling_kernel.cuh);
  // then rows_per_thread is the length of a thread's run.
  bool rolling = false;
  // NHWC rows on tensor cores (forward_mma_nhwc_kernel.cuh); then
  // rows_per_thread is a block's least share of output rows (16 a block of
  // them; the launch deals equal shares to one wave) and vec_elems the
  // channels of each of its warps.
  bool mma_nhwc = false;
  // A small problem's register window: kSmallProblemRows<T> rows a thread.
  bool small_rows = false;
  // NCHW rows whose x and y rows are whole vectors of vec_elems but for
  // pad_left: the register window reads a thread's x columns, at phase
  // x_shift of the vector in every row, as the two aligned vectors around
  // them (forward_kernel's Shift).
  bool fixed_shift = false;
  int x_shift = 0;
};

/// The default table's register windows on problems of fewer tiles than
/// this (about the H100's 132 multiprocessors) take kSmallProblemRows<T>
/// rows a thread instead of the table's 8-16, so that the tiles spread over
/// the GPU and each thread's rows in series are few. The 1x32x64x64 case in
/// NHWC: 20-24 tiles at the table's rows, 96 (fp16) and 320 (fp32) at
/// kSmallProblemRows. Measured on the H100 (`2026-11-26-h100-f25-ab.txt`,
/// graph-captured): fp32 NHWC 3.11 us at 2 rows, 2.54 at 1; fp16 NHWC 2.50
/// at 2, 2.70 at 1.
inline constexpr int64_t kSmallProblemTiles = 128;
template <class T>
inline constexpr int kSmallProblemRows = sizeof(T) >= 4 ? 1 : 2;

/// Shared memory a staged tile may use: 48 KiB leaves room for four tiles per
/// multiprocessor, whose loads overlap each other's compute.
inline constexpr int64_t kStagedSmemBudget = 48 * 1024;
/// Tall kernels (K >= kStagedTallK), whose 32-row units need more than the
/// default budget, may take two tiles per multiprocessor: the scalar path
/// they fall back to otherwise holds ~190 registers a thread (12.5 %
/// occupancy, ncu on the H100).
inline constexpr int kStagedTallK = kTallKernelHeight;
inline constexpr int64_t kStagedTallSmemBudget = 100 * 1024;
/// Tall tensor-core tiles take up to two per multiprocessor too (2 x (110 +
/// 1 reserved) KiB of the H100's 228): 32 rows of K = 31 at W = 512.
inline constexpr int64_t kMmaTallSmemBudget = 110 * 1024;
/// The staged kernel sizes its tiles for at least this many blocks, so that
/// small problems still spread over the whole GPU.
inline constexpr int64_t kStagedMinTiles = 512;
/// Staged tiles of column pairs with fewer items (units x pairs) than two
/// a thread of the policy's block run in blocks of kStagedSmallThreads: a
/// tile's fixed cost (index math, band bounds, its barriers) is paid once a
/// warp and was half the instructions of 2-byte 56x56, one 58-column plane
/// a tile at 1.6 items a thread (ncu source counters on the H100,
/// `2026-11-26-h100-f17.1-sass.txt`).
inline constexpr int kStagedSmallThreads = 64;

inline int64_t gcd64(int64_t a, int64_t b) {
  while (b != 0) {
    const int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/// How a thread's output rows walk the input: stride and dilation over
/// their gcd. A thread's consecutive output rows lie row_step rows apart and
/// their windows start window_step dilation-rows apart (the static kernels'
/// M), so each input row of the walk feeds every row whose tap lands on it.
struct RowWalk {
  int window_step, row_step;
};
inline RowWalk row_walk(const Problem& p) {
  const int64_t g = gcd64(p.stride_h, p.dilation_h);
  return {int(p.stride_h / g), int(p.dilation_h / g)};
}

inline bool aligned_to(const void* ptr, int64_t bytes) { return reinterpret_cast<uintptr_t>(ptr) % bytes == 0; }

// Every V-element output access maps to one aligned V-element input access
// that lies wholly inside the input row or wholly in its zero padding.
template <class T>
bool vectorizable(const Problem& p, const void* x, const void* y, int vec) {
  if (vec == 1) return true;
  if (!aligned_to(x, vec * int64_t(sizeof(T))) || !aligned_to(y, vec * int64_t(sizeof(T)))) return false;
  if (p.layout == Layout::NHWC) return p.c % vec == 0;
  return p.stride_w == 1 && p.w % vec == 0 && p.out_w() % vec == 0 && p.pad_left % vec == 0;
}

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Output rows of a staged tile: whole units of `unit` rows, as many as fit
// `grow_budget` bytes (bytes(rows)) up to 256 rows or the plane's height,
// but few enough for kStagedMinTiles tiles. With `balance`, the plane's
// rows are then shared evenly among the tiles it needs (a plane of 128 rows
// in two tiles of 64, not 80 and 48).
template <class Bytes>
int64_t staged_tile_rows(const Problem& p, int64_t unit, int64_t grow_budget, bool balance, Bytes&& bytes) {
  const int64_t ho = p.out_h();
  const int64_t limit = round_up(ho, unit) < 256 ? round_up(ho, unit) : 256;
  int64_t tile = unit;
  while (tile + unit <= limit && bytes(tile + unit) <= grow_budget) tile += unit;
  const int64_t for_tiles = (ho * p.n * p.c / kStagedMinTiles) / unit * unit;
  if (tile > for_tiles) tile = for_tiles > unit ? for_tiles : unit;
  if (balance) {
    const int64_t per_plane = (ho + tile - 1) / tile;
    tile = round_up((ho + per_plane - 1) / per_plane, unit);
  }
  return tile;
}

// Plans a staged tile for an NCHW problem whose rows are not vectorizable;
// leaves choice.staged false when one unit of rows does not fit.
template <class T>
void plan_staged(const Problem& p, int full_vec, KernelChoice& choice) {
  const int64_t budget = p.k >= kStagedTallK ? kStagedTallSmemBudget : kStagedSmemBudget;
  const int64_t unit_rows = int64_t(choice.rows_per_thread) * choice.row_step;
  const int64_t wo = p.out_w();
  // Every row the tile's windows read, padding rows included (the kernel
  // zero-fills them), and room to align the band's first copied element.
  auto in_elems = [&](int64_t tile_rows) {
    return round_up(staged_band_rows(tile_rows, p.stride_h, p.k, p.dilation_h) * p.w + 2 * full_vec, full_vec);
  };
  // The output band (the forward's y, or dy for backward_weight) with the
  // same alignment room.
  auto bytes = [&](int64_t tile_rows) {
    return (in_elems(tile_rows) + tile_rows * wo + 2 * full_vec) * int64_t(sizeof(T));
  };
  if (bytes(unit_rows) > budget) return;
  const int64_t tile = staged_tile_rows(p, unit_rows, kStagedSmemBudget, false, bytes);
  choice.staged = true;
  // Pairs need the two columns of a thread adjacent in the input (stride 1
  // along W) and every band row at the same parity (even widths); not the
  // tall tiles' 32-row windows, whose doubled sums took ptxas from 88 to
  // 128 registers (fp16 K = 31 on CUDA cores 40 -> 25 %, H100).
  choice.staged_pairs = sizeof(T) == 2 && p.stride_w == 1 && p.w % 2 == 0 && choice.rows_per_thread <= 16;
  choice.staged_tile_rows = int(tile);
  choice.staged_in_elems = int(in_elems(tile));
  choice.staged_vec = full_vec;
  choice.smem_bytes = int(bytes(tile));
}

/// Consecutive strip tiles a block takes (forward_strips_nchw_kernel): its
/// weights load once a run and its indices advance without divisions; few
/// enough that the fp32 K = 31 case's 40960 tiles still make ~15 waves of
/// five blocks a multiprocessor.
inline constexpr int kStagedStripRun = 4;
/// Threads of a strip tile, and about the columns of a strip. 96 (six
/// strips of 91 at 542 columns, 95 % of the lanes busy against 85 % at 128)
/// lost: fp32 K = 31 70.8 -> 67.9 %, the K = 15 probe 79.2 -> 75.5 %
/// (f39.2, H100; 96 registers a thread, 18 warps a multiprocessor).
inline constexpr int kStagedStripThreads = 128;

// Plans staged tiles over column strips (forward_strips_nchw_kernel) where no
// whole-row tile fits: a (K x 1) window reads only its own column, so a
// strip needs no columns beside it. A strip holds about one output column a
// thread (kStagedStripThreads: rows of 542 in five strips of 109); x's box
// starts at a vector-aligned column and holds whole vectors (stage_box_rows: W a
// multiple of the vector, x aligned to it); y's strip rows sit in shared
// memory at their global phase mod the vector, so that each goes out as aligned
// vectors. Budgets as plan_staged's: a unit within the tall budget, tiles
// grown within kStagedSmemBudget; else choice.staged stays false.
template <class T>
void plan_staged_strips(const Problem& p, const void* x, KernelChoice& choice) {
  constexpr int V = kVecElems16<T>;
  if (p.w % V != 0 || !aligned_to(x, V * int64_t(sizeof(T)))) return;
  const int64_t wo = p.out_w();
  const int64_t strips = (wo + kStagedStripThreads - 1) / kStagedStripThreads;
  const int64_t cols = (wo + strips - 1) / strips;
  // The box: the strip's first input column floored to the vector, so up to
  // V - 1 more columns than the strip's span.
  const int64_t in_pitch = round_up((cols - 1) * p.stride_w + V, V);
  const int64_t out_pitch = cols + ((wo - cols) % V + V) % V;  // >= cols, = wo mod V
  const int64_t unit_rows = int64_t(choice.rows_per_thread) * choice.row_step;
  auto in_elems = [&](int64_t tile_rows) {
    return staged_band_rows(tile_rows, p.stride_h, p.k, p.dilation_h) * in_pitch;
  };
  // y's rows start at phase < V; the last row's vectors may read V past it.
  auto bytes = [&](int64_t tile_rows) {
    return (in_elems(tile_rows) + tile_rows * out_pitch + 2 * V) * int64_t(sizeof(T));
  };
  if (bytes(unit_rows) > (p.k >= kStagedTallK ? kStagedTallSmemBudget : kStagedSmemBudget)) return;
  const int64_t tile = staged_tile_rows(p, unit_rows, kStagedSmemBudget, false, bytes);
  choice.staged = true;
  choice.staged_pairs = false;
  choice.threads = kStagedStripThreads;
  choice.staged_tile_rows = int(tile);
  choice.staged_in_elems = int(in_elems(tile));
  choice.staged_vec = V;
  choice.smem_bytes = int(bytes(tile));
  choice.staged_strip_cols = int(cols);
  choice.staged_in_pitch = int(in_pitch);
  choice.staged_out_pitch = int(out_pitch);
}

// Whether a staged NCHW tile of `p` can run on tensor cores: 2-byte types,
// stride 1 and dilation 1 (one Toeplitz A per channel).
template <class T>
bool mma_applies(const Problem& p) {
  return sizeof(T) == 2 && p.layout == Layout::NCHW && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1;
}

// Whether the tile can stage its band at a conflict-free pitch for ldmatrix:
// rows of whole 16-byte vectors from an aligned x. Other rows take the
// contiguous band and element-wise B fragments (forward_mma_kernel.cuh).
template <class T>
bool mma_rows_aligned(const Problem& p, const void* x) {
  return p.w % kVecElems16<T> == 0 && aligned_to(x, 16);
}

/// Kernel heights from which the tensor-core tile keeps its band as a ring
/// across a plane's tiles (forward_mma_kernel's kBandRing; pitched or
/// contiguous, `2026-11-27-h100-f33-ab.txt`: K31 dx 76-77 -> 80 %): the tall
/// tiles, two a multiprocessor, whose band is up to twice the rows it
/// feeds. Measured on the H100 against one tile a block
/// (`2026-11-26-h100-f31.1-ab.txt`, fp16 / bf16 NCHW): K = 31 forward 77.0
/// / 77.6 -> 84.1 / 84.3 %, K = 15 (probe) 81.2 / 84.5 -> 83.7 / 82.9 %; the
/// ring at every K lost the shorter tiles, K = 7 95 -> 86 % and K = 9 forward
/// 91 -> 83 % (dx 93 -> 83 %).
inline constexpr int kMmaBandRingMinK = kStagedTallK;

// Plans a tensor-core staged tile (forward_mma_kernel.cuh); leaves choice
// unchanged when 16 rows do not fit. Tiles grow within the whole budget
// (K = 31 at W = 512: 32 rows in ~100 KiB, two tiles a multiprocessor, the
// band twice the rows it feeds; 16-row tiles would read it three times).
template <class T>
void plan_mma(const Problem& p, const void* x, KernelChoice& choice) {
  const int64_t budget = p.k >= kStagedTallK ? kMmaTallSmemBudget : kStagedSmemBudget;
  constexpr int64_t kV = kVecElems16<T>;
  const bool aligned = mma_rows_aligned<T>(p, x);
  // Aligned rows: whole pitched rows. Contiguous band: stage_band's room to
  // align (2 vectors; the ring's base likewise) and 16 zeros after it that
  // the last strip reads.
  auto in_elems = [&](int64_t tile_rows) {
    const int64_t rows = mma_band_rows(tile_rows, p.k);
    return aligned ? rows * conflict_free_pitch(p.w) : round_up(rows * p.w + 2 * kV + 16, kV);
  };
  auto bytes = [&](int64_t tile_rows) {
    return (in_elems(tile_rows) + tile_rows * mma_out_pitch(p.out_w()) + 2 * kV) * int64_t(sizeof(T));
  };
  if (bytes(16) > budget) return;
  const int64_t tile = staged_tile_rows(p, 16, budget, true, bytes);
  choice.staged = choice.mma = true;
  choice.mma_aligned_rows = aligned;
  choice.mma_band_ring = p.k >= kMmaBandRingMinK;
  choice.rows_per_thread = 16;
  choice.staged_tile_rows = int(tile);
  choice.staged_in_elems = int(in_elems(tile));
  choice.staged_vec = int(kV);
  choice.smem_bytes = int(bytes(tile));
}

/// The rolling kernel's threads: at least this many runs, so that the last
/// wave of long runs is a small share of the launch (about 6 waves of the
/// H100's ~84K resident threads at 96 registers), in runs of at least
/// kRollingMinRunTaps * K rows, so that the K - 1 rows a run reads before
/// its first output stay a small share of its loads.
inline constexpr int64_t kRollingMinThreads = int64_t(1) << 19;
/// The same for single-element NCHW rows off the 32-byte sector, whose
/// warps store part sectors (f22): measured on the H100 (fp32 K = 31, pad
/// 15, `2026-11-26-h100-f24-ab.txt`), runs of 128 rows (2^20 threads)
/// against 256: 66.9 -> 71.9 % of the floor; against the same runs NHWC
/// lost 5 points and dx 4-14, so they keep kRollingMinThreads.
inline constexpr int64_t kRollingMinThreadsOffSector = int64_t(1) << 20;
inline constexpr int64_t kRollingMinRunTaps = 4;
/// Longest run: keeps the kernel's row counts in int for any height.
inline constexpr int64_t kRollingMaxRun = int64_t(1) << 20;

// Whether the rolling kernel's single-element NCHW rows of `p` sit off the
// 32-byte sector (kRollingMinThreadsOffSector).
template <class T>
bool rolling_off_sector(const Problem& p, int vec_elems) {
  return p.layout == Layout::NCHW && vec_elems == 1 && p.out_w() * int64_t(sizeof(T)) % 32 != 0;
}

// Sets the rolling kernel's vector and run length (choice.rows_per_thread).
template <class T>
void plan_rolling(const Problem& p, const void* x, const void* y, int vec, KernelChoice& choice) {
  choice.rolling = true;
  choice.staged = choice.mma = choice.fixed_shift = false;
  choice.vec_elems = vectorizable<T>(p, x, y, vec) ? vec : 1;
  const int64_t q = choice.row_step;
  const int64_t per_residue = (p.out_h() + q - 1) / q;
  const bool nchw = p.layout == Layout::NCHW;
  const int64_t cols = nchw ? p.out_w() : p.out_w() * p.c;
  const int64_t walkers = (nchw ? p.n * p.c : p.n) * ((cols + choice.vec_elems - 1) / choice.vec_elems) * q;
  const int64_t min_threads =
      rolling_off_sector<T>(p, choice.vec_elems) ? kRollingMinThreadsOffSector : kRollingMinThreads;
  const int64_t runs = walkers >= min_threads || walkers == 0 ? 1 : (min_threads + walkers - 1) / walkers;
  int64_t run = (per_residue + runs - 1) / runs;
  if (run < kRollingMinRunTaps * p.k) run = kRollingMinRunTaps * p.k;
  if (run > per_residue) run = per_residue;
  choice.rows_per_thread = int(run < kRollingMaxRun ? run : kRollingMaxRun);
}

/// The NHWC tensor-core tile's least share (16-row blocks a block walks):
/// kMmaNhwcMinRunSteps times the band blocks a run stages before its first
/// output, so that those stay a small share of its loads; at least one.
inline constexpr int64_t kMmaNhwcMinRunSteps = 4;

// Whether the NHWC tensor-core tile can take `p` with `channels` a warp:
// 2-byte types, stride 1 both ways, dilation 1, whole blocks of channels
// (mma_nhwc_warps warps) and 16-byte aligned pixels.
template <class T>
bool mma_nhwc_applies(const Problem& p, const void* x, const void* y, int channels) {
  return channels > 0 && sizeof(T) == 2 && p.layout == Layout::NHWC && p.stride_h == 1 && p.stride_w == 1 &&
         p.dilation_h == 1 && p.c % (mma_nhwc_warps(p.c, channels) * channels) == 0 && aligned_to(x, 16) &&
         aligned_to(y, 16);
}

// Sets the NHWC tensor-core tile's channels a warp, its block, its shared
// memory and its least share (rows_per_thread: 16 rows a block); the
// launch sizes the grid (one wave, or fewer blocks of the least share).
inline void plan_mma_nhwc(const Problem& p, int channels, KernelChoice& choice) {
  choice.mma_nhwc = true;
  choice.staged = choice.mma = choice.rolling = false;
  choice.vec_elems = channels;
  const int warps = mma_nhwc_warps(p.c, channels);
  choice.threads = 32 * warps;
  choice.smem_bytes = MmaNhwcSmem{warps * channels, p.k}.bytes();
  const int64_t least = kMmaNhwcMinRunSteps * (mma_k_steps(p.k) - 1);
  choice.rows_per_thread = int(16 * (least > 1 ? least : 1));
}

inline ForwardParams make_forward_params(const Problem& p, const KernelChoice& choice);

/// The phase S in [0, vec) of a thread's x columns where `vec`-lane vectors
/// walk p's NCHW y rows (dw: dy's) and x's rows are whole vectors too
/// (forward_kernel's and weight_grad_rolling_kernel's Shift = (-pad_left)
/// mod vec; pad_left may be negative for dx): stride 1 along W, x and y
/// aligned to the vector, w and out_w multiples of it; else -1.
template <class T>
int fixed_x_shift(const Problem& p, const void* x, const void* y, int vec) {
  if (p.layout != Layout::NCHW || p.stride_w != 1 || vec < 1) return -1;
  const int64_t bytes = vec * int64_t(sizeof(T));
  if (!aligned_to(x, bytes) || !aligned_to(y, bytes) || p.w % vec != 0 || p.out_w() % vec != 0) return -1;
  return int(((-int64_t(p.pad_left)) % vec + vec) % vec);
}

template <class T, class Policy>
KernelChoice choose_kernel(const Problem& p, const void* x, const void* y) {
  KernelChoice choice;
  const RowWalk walk = row_walk(p);
  const int ratio = walk.window_step;
  int full_vec = 1, scalar_rows = 0;
  bool staged_allowed = false, mma_allowed = false;
  int rolling_vec = 0, nhwc_channels = 0;
  bool fixed_shift_allowed = false, strips_allowed = false;
  auto take_policy = [&](auto k_const) {
    dispatch_layout(p.layout, [&](auto layout_const) {
      using P = typename ResolvePolicy<Policy, T, decltype(k_const)::value, decltype(layout_const)::value>::type;
      choice.threads = P::kThreads;
      choice.rows_per_thread = P::kRowsPerThread;
      scalar_rows = P::kScalarRowsPerThread;
      choice.vec_elems = vectorizable<T>(p, x, y, P::kVecElems) ? P::kVecElems : 1;
      full_vec = P::kVecElems;
      staged_allowed = P::kStagedNchw;
      mma_allowed = P::kTensorCoreWarps > 0;
      rolling_vec = P::kRollingVecElems;
      nhwc_channels = P::kNhwcTensorChannels;
      fixed_shift_allowed =
          is_default_table_v<Policy> && kWindowFixedShift<T, decltype(k_const)::value, decltype(layout_const)::value>;
      strips_allowed =
          is_default_table_v<Policy> && kStagedStrips<T, decltype(k_const)::value, decltype(layout_const)::value>;
    });
  };
  if (ratio <= 2 && dispatch_static_k(p.k, take_policy)) {
    choice.static_k = p.k;
    choice.stride_ratio = ratio;
    choice.row_step = walk.row_step;
    // Rows off the vector only by pad_left: the register window with the
    // widest lanes that fit at a fixed phase, where the table says so and
    // the problem fills the GPU (small problems keep their measured tilings).
    KernelChoice fixed = choice;
    if (fixed_shift_allowed && ratio == 1 && choice.vec_elems == 1) {
      for (int v = full_vec; v >= 2 && !fixed.fixed_shift; v /= 2) {
        const int shift = fixed_x_shift<T>(p, x, y, v);
        if (shift < 0) continue;
        KernelChoice c = choice;
        c.vec_elems = v;
        c.fixed_shift = true;
        c.x_shift = shift;
        if (make_forward_params(p, c).tiles >= kSmallProblemTiles) fixed = c;
      }
    }
    const bool staged_rows = p.layout == Layout::NCHW && staged_allowed && full_vec > 1 && choice.vec_elems == 1;
    if (staged_rows && mma_allowed && mma_applies<T>(p)) plan_mma<T>(p, x, choice);
    if (!choice.mma && staged_rows) {
      plan_staged<T>(p, full_vec, choice);
      if (!choice.staged && strips_allowed) plan_staged_strips<T>(p, x, choice);
      const int64_t items = choice.staged_tile_rows / choice.rows_per_thread * ((p.out_w() + 2) / 2);
      if (choice.staged_pairs && items < 2 * choice.threads && choice.threads > kStagedSmallThreads)
        choice.threads = kStagedSmallThreads;
    }
    // The fixed phase takes the rows from the staged tile where x's rows are
    // the wider (dx at stride 1) and from the one-lane window where y's are;
    // the other two lost to it (f27 in bench/NOTES.md).
    if (fixed.fixed_shift && !choice.mma && choice.staged == (p.out_w() < p.w)) choice = fixed;
    // The rolling kernel takes what would run the register window: staged
    // tiles measured faster (fp16 NCHW K = 31 on CUDA cores: 40 against 32 %).
    if (!choice.staged && mma_nhwc_applies<T>(p, x, y, nhwc_channels))
      plan_mma_nhwc(p, nhwc_channels, choice);
    else if (!choice.staged && rolling_vec > 0 && p.stride_h == 1)
      plan_rolling<T>(p, x, y, rolling_vec, choice);
  } else {
    take_policy(std::integral_constant<int, 0>{});
  }
  if (choice.vec_elems == 1 && !choice.staged && !choice.rolling && !choice.mma_nhwc)
    choice.rows_per_thread = scalar_rows;
  if constexpr (is_default_table_v<Policy>) {
    const bool window = choice.static_k > 0 && choice.vec_elems > 1 && !choice.staged && !choice.rolling &&
                        !choice.mma && !choice.mma_nhwc && !choice.fixed_shift;
    if (window && choice.rows_per_thread > kSmallProblemRows<T> &&
        make_forward_params(p, choice).tiles < kSmallProblemTiles) {
      choice.rows_per_thread = kSmallProblemRows<T>;
      choice.small_rows = true;
    }
  }
  return choice;
}

inline int log2_ceil(int64_t v) {
  int l = 0;
  while ((int64_t(1) << l) < v) ++l;
  return l;
}

/// Fewest threads of a block along a row (log2) that row_threads_log2
/// weighs: 16 threads of 16-byte vectors still read 256 contiguous bytes.
inline constexpr int kMinRowThreadsLog2 = 4;

/// Threads of a block along a row (log2) for rows of `col_groups` vectors
/// and planes of `units` row units; the block's other threads take further
/// units (2^threads_log2 threads a block). Of the counts from the most a
/// row can use down to 2^least_log2, the one whose blocks hold the fewest
/// idle lanes, ties to more along the row. A row a few vectors past a
/// power of two left whole blocks nearly idle at the most: 2-byte NHWC
/// K = 3 at padding 1 (514 vectors on 5 blocks of 128, 80 % of the lanes
/// busy) read 91 % of the floor where the same rows without the padding
/// columns read 97 %; at 16 threads a row (97 % busy) 93.5 (H100,
/// `2026-11-27-h100-f44-ab.txt`: fp16 / bf16 +1.8 / +2.0, fp32 NHWC K = 9
/// +2.1 at 64, fp32 NHWC padding 1 -1.6 at 16).
inline int row_threads_log2(int64_t col_groups, int64_t units, int threads_log2, int least_log2) {
  const int most = log2_ceil(col_groups) < threads_log2 ? log2_ceil(col_groups) : threads_log2;
  int best = most;
  int64_t best_slots = -1;
  for (int l = most; l == most || l >= least_log2; --l) {
    const int64_t row_slots = (col_groups + (int64_t(1) << l) - 1) >> l << l;
    const int64_t per_block = int64_t(1) << (threads_log2 - l);
    const int64_t slots = row_slots * ((units + per_block - 1) / per_block * per_block);
    if (best_slots < 0 || slots < best_slots) {
      best_slots = slots;
      best = l;
    }
  }
  return best;
}

inline ForwardParams make_forward_params(const Problem& p, const KernelChoice& choice) {
  ForwardParams f{};
  const int64_t ho = p.out_h(), wo = p.out_w();
  const bool nchw = p.layout == Layout::NCHW;
  f.planes = nchw ? p.n * p.c : p.n;
  f.h = p.h;
  f.out_h = ho;
  f.w = p.w;
  f.c = p.c;
  f.cols = nchw ? wo : wo * p.c;
  f.in_row_pitch = nchw ? p.w : p.w * p.c;
  f.out_row_pitch = f.cols;
  f.in_plane_pitch = f.in_row_pitch * p.h;
  f.out_plane_pitch = f.out_row_pitch * ho;
  f.k = p.k;
  f.stride_h = p.stride_h;
  f.stride_w = p.stride_w;
  f.dilation_h = p.dilation_h;
  f.pad_top = p.pad_top;
  f.pad_left = p.pad_left;
  f.row_step = choice.row_step;
  f.run_rows = choice.rolling ? choice.rows_per_thread : 0;

  const int64_t col_groups = (f.cols + choice.vec_elems - 1) / choice.vec_elems;
  // Floor: for a block of threads that is not a power of two (the strip
  // tiles, which set their own tiles below, once had 96), so that the
  // division here stays defined.
  const int threads_log2 = log2_ceil(choice.threads) - ((int64_t(1) << log2_ceil(choice.threads)) > choice.threads);
  const int64_t rows_per_tile = int64_t(choice.rows_per_thread) * choice.row_step;
  f.units_per_plane = (ho + rows_per_tile - 1) / rows_per_tile * choice.row_step;
  // Rows of the most threads where fewer lost or were not measured: NCHW
  // (f44: fp32 at padding 1 -30 points at 16 threads a row, dilation 2
  // -21), small problems (the 1x32 units a fifth slower), and the rolling
  // kernel, whose runs and waves (plan_rolling, rolling_wave_run) were
  // fitted on them.
  const bool most_threads = choice.rolling || choice.small_rows || p.layout == Layout::NCHW;
  const int col_log2 =
      row_threads_log2(col_groups, f.units_per_plane, threads_log2, most_threads ? threads_log2 : kMinRowThreadsLog2);
  f.col_threads_log2 = col_log2;
  const int64_t units_per_block = int64_t(choice.threads) >> col_log2;
  f.row_blocks = (f.units_per_plane + units_per_block - 1) / units_per_block;
  f.col_blocks = (col_groups + (int64_t(1) << col_log2) - 1) >> col_log2;
  f.tiles = f.planes * f.row_blocks * f.col_blocks;
  if (choice.mma_nhwc) {
    f.row_blocks = (ho + 15) / 16;
    f.col_blocks = (wo + kMmaNhwcPixels - 1) / kMmaNhwcPixels;
    f.tiles = f.planes * f.row_blocks * f.col_blocks * (p.c / (choice.threads / 32 * choice.vec_elems));
  }
  if (choice.staged) {
    f.tile_rows = choice.staged_tile_rows;
    f.smem_in_elems = choice.staged_in_elems;
    f.row_blocks = (ho + f.tile_rows - 1) / f.tile_rows;
    f.col_blocks = 1;
    if (choice.staged_strip_cols > 0) {
      f.strip_cols = choice.staged_strip_cols;
      f.strip_in_pitch = choice.staged_in_pitch;
      f.strip_out_pitch = choice.staged_out_pitch;
      f.strip_run = kStagedStripRun;
      f.col_blocks = (wo + f.strip_cols - 1) / f.strip_cols;
    }
    f.tiles = f.planes * f.row_blocks * f.col_blocks;
  }
  return f;
}

/// Most run counts rolling_wave_run weighs (a column's runs).
inline constexpr int64_t kRollingWaveMaxRuns = 1024;
/// Fewest waves rolling_wave_run's runs make: K = 9 dx in one wave of
/// 683-row runs lost to three of 241 (below).
inline constexpr int64_t kRollingWaveMinWaves = 2;

/// The rolling kernel's run length (choice.rows_per_thread) for `resident`
/// blocks of its kernel at once (resident_blocks). A model of equal blocks
/// in step: a launch takes ceil(tiles / resident) waves, each as long as a
/// run's steps (its rows and the K - 1 before its first output). Of the
/// runs a column from plan_rolling's count down to one that keep at least
/// kRollingWaveMinWaves waves, the cheapest (ties to the longer run)
/// replaces the plan's only where the model saves 5 % or more; the plan's
/// 2^19 threads can leave many short runs whose last blocks drain out of
/// step and whose K - 1 re-read rows are a large share. A fit to few
/// points (H100, `2026-11-27-h100-f42-ab.txt`, `-f42.1-ab.txt`, fp16 / bf16
/// NHWC K = 9): forward 66-row runs in 10.8 waves 85.4 / 85.3 %, 179 in
/// 3.95 89.4 / 89.4, 241 in 2.92 90.7 / 90.6; dx 64 rows in 10.3 waves
/// 89.3 / 88.8, 241 in 2.75 91.6 / 91.0, 683 in 0.97 89.5 / 89.9. Where
/// the model saved under 5 % it misled: fp32 NCHW K = 15 dx, two runs in
/// 5.2 waves to one in 2.6 (2.6 % in the model), lost 1.7 points. It keeps
/// fp32 K = 31's two runs a column, which led one and four in f24. Rows
/// off the sector keep their short runs (f24.1), and every plan keeps its
/// own where `resident` < 1 (the runtime could not say).
template <class T>
int rolling_wave_run(const Problem& p, const KernelChoice& choice, int64_t resident) {
  const int planned = choice.rows_per_thread;
  if (!choice.rolling || resident < 1 || rolling_off_sector<T>(p, choice.vec_elems)) return planned;
  const ForwardParams f = make_forward_params(p, choice);
  const int64_t q = choice.row_step, ho = p.out_h();
  const int64_t per_residue = (ho + q - 1) / q;
  const int64_t runs = (per_residue + planned - 1) / planned;
  const int64_t units_per_block = int64_t(choice.threads) >> f.col_threads_log2;
  auto waves_cost = [&](int64_t tiles, int64_t run) { return (tiles + resident - 1) / resident * (run + p.k - 1); };
  const int64_t planned_cost = waves_cost(f.tiles, planned);
  int best = planned;
  int64_t best_cost = planned_cost;
  for (int64_t r = runs < kRollingWaveMaxRuns ? runs : kRollingWaveMaxRuns; r >= 1; --r) {
    int64_t run = (per_residue + r - 1) / r;
    if (run < planned) run = planned;
    if (run > kRollingMaxRun) run = kRollingMaxRun;
    // make_forward_params's tiles at this run length.
    const int64_t units = (ho + run * q - 1) / (run * q) * q;
    const int64_t tiles = f.planes * f.col_blocks * ((units + units_per_block - 1) / units_per_block);
    if (tiles < kRollingWaveMinWaves * resident) continue;
    const int64_t cost = waves_cost(tiles, run);
    if (cost <= best_cost) {
      best_cost = cost;
      best = int(run);
    }
  }
  return best_cost * 20 <= planned_cost * 19 ? best : planned;
}

}  // namespace detail
}  // namespace dwconv
