// dwconv: tiling policies as types, and the default table per (dtype, K,
// layout). Kernels derive all geometry from a policy; nothing else sets it.
#pragma once

#include "dwconv/numeric.cuh"
#include "dwconv/problem.hpp"

namespace dwconv {

/// A forward tiling: a block of `Threads` threads, each owning `VecElems`
/// adjacent output elements along the contiguous axis (one 16-byte or
/// narrower access) and `RowsPerThread` output rows, walked with a register
/// window so that each input row is loaded once per thread. `StagedNchw`:
/// NCHW rows that vectors cannot walk (padding or stride along W, widths off
/// the vector) go through the shared-memory staged kernel (true) or scalar
/// accesses (false). `TensorCoreWarps` > 0: such staged tiles in 2-byte
/// types with stride 1 and dilation 1, whose rows hold a multiple of 8
/// elements, compute on tensor cores (mma.sync, float accumulation) in
/// blocks of that many warps rather than with one multiply-add per tap;
/// there a non-finite input also turns to NaN the outputs of the same
/// 16-row block and 16-column strip whose windows miss it (0 * inf). 0: off.
/// `RollingVecElems` > 0: stride-1 problems (rows no tensor-core tile takes)
/// run the rolling kernel, each thread walking a long run of rows with
/// RollingVecElems adjacent elements (1 where rows are not vectorizable) and
/// one accumulator row per tap, each input row loaded once. 0: off.
/// `NhwcTensorChannels` > 0: 2-byte NHWC problems at stride 1 and dilation
/// 1, with channels a multiple of 4 times it and x and y aligned to 16
/// bytes, run on tensor cores (forward_mma_nhwc_kernel.cuh), each warp
/// owning that many channels (4 or 8) of 8 pixels, 4 warps a block; as with
/// TensorCoreWarps, a non-finite input then also turns to NaN the outputs
/// of its pixel in the 16-row blocks whose band holds it. 0: off.
template <int Threads, int RowsPerThread, int VecElems, bool StagedNchw = true, int TensorCoreWarps = 8,
          int RollingVecElems = 0, int NhwcTensorChannels = 0>
struct TilePolicy {
  static constexpr int kThreads = Threads;
  static constexpr int kRowsPerThread = RowsPerThread;
  /// Rows per thread when accesses fall back to single elements (rows that
  /// vectors cannot walk and that are not staged): at most 16, because ptxas
  /// issues a scalar window's loads all ahead (K = 31 at 32 rows: 180-196
  /// registers, 12.5 % occupancy on the H100).
  static constexpr int kScalarRowsPerThread = RowsPerThread < 16 ? RowsPerThread : 16;
  static constexpr int kVecElems = VecElems;
  static constexpr bool kStagedNchw = StagedNchw;
  static constexpr int kTensorCoreWarps = TensorCoreWarps;
  static constexpr int kRollingVecElems = RollingVecElems;
  static constexpr int kNhwcTensorChannels = NhwcTensorChannels;
  static_assert(Threads >= 32 && Threads <= 1024 && (Threads & (Threads - 1)) == 0,
                "Threads must be a power of two in [32, 1024]");
  static_assert(RowsPerThread >= 1 && RowsPerThread <= 64, "RowsPerThread must be in [1, 64]");
  static_assert(VecElems >= 1 && VecElems <= 16 && (VecElems & (VecElems - 1)) == 0,
                "VecElems must be a power of two in [1, 16]");
  static_assert(TensorCoreWarps >= 0 && TensorCoreWarps <= 32, "TensorCoreWarps must be in [0, 32]");
  static_assert(RollingVecElems >= 0 && RollingVecElems <= 16 && (RollingVecElems & (RollingVecElems - 1)) == 0,
                "RollingVecElems must be 0 or a power of two up to 16");
  static_assert(NhwcTensorChannels == 0 || NhwcTensorChannels == 4 || NhwcTensorChannels == 8,
                "NhwcTensorChannels must be 0, 4 or 8");
};

/// The dw / dbias kernel family backward_weight() runs. kDefault: the
/// table's choice (the rolling kernel for the stride_h 1 rows it takes,
/// else the staged tiles where they fit, else the register kernel).
/// kRolling: the rolling kernel wherever it can take the problem. kStaged:
/// never the rolling kernel (the choice before it existed), for benchmarks.
/// kTensorCores: the tensor-core tile where it applies (2-byte NCHW, stride
/// 1, dilation 1, K in the table, a 16-row tile within the shared-memory
/// budget), else kDefault's choice. Every family rounds within the same
/// bound; their bits differ.
enum class WeightGradKernel { kDefault, kRolling, kStaged, kTensorCores };

/// Tag: let dwconv pick the policy from its table for each (T, K, layout).
/// TensorCores = false keeps every tile on CUDA cores (see TilePolicy's
/// TensorCoreWarps: NaN and inf then reach only the outputs whose windows
/// hold them).
template <bool TensorCores = true>
struct DefaultTable {};
using DefaultPolicy = DefaultTable<true>;

namespace detail {

/// Whether the default table sends NCHW rows that vectors cannot walk through
/// the shared-memory staged kernel, per element type.
template <class T>
inline constexpr bool kDefaultStagedNchw = true;

constexpr int pow2_floor(int v) {
  int p = 1;
  while (p * 2 <= v) p *= 2;
  return p;
}
constexpr int min_int(int a, int b) { return a < b ? a : b; }
/// Kernel heights from which NCHW tiles are "tall": the table's 32-row
/// windows, and the staged tiles' larger shared-memory budget.
inline constexpr int kTallKernelHeight = 15;
constexpr int max_int(int a, int b) { return a > b ? a : b; }

// The default table. Register budget per thread: about 64 accumulators
// (rows x vector) and, in NHWC where every vector lane is its own channel,
// about 64 weights (K x vector). K == 0 stands for the runtime-K kernel.
// Tall kernels (K >= 15) in NCHW take 32 rows at half the vector width, so
// the (K - 1)-row halo of each thread's window is a smaller share of its
// loads (measured on the H100: K = 31 fp32 54 -> 58 %, fp16 18 -> 25 %).
template <class T, int K, Layout L, bool TensorCores = true>
struct DefaultTilePolicy {
  static constexpr int kFullVec = kVecElems16<T>;
  static constexpr bool kTallNchw = L == Layout::NCHW && K >= kTallKernelHeight && kFullVec >= 4;
  static constexpr int kWeightLanes = K == 0 ? kFullVec : max_int(1, pow2_floor(64 / K));
  // 2-byte NHWC at K = 7 takes 8-byte vectors (so 16 rows, fp32's shape):
  // the 16-byte vector's 8 rows held 167 registers, 3 blocks a
  // multiprocessor, each window reading 14 rows for 8 (H100, the sweep in
  // `2026-11-26-h100-f17.4-sweep.json`: fp16/bf16 77.9/77.3 -> 82.2/81.2 %;
  // 128 registers). Not at K = 9 (79 against the tensor-core tile's 84 %)
  // or K = 3 (56x56 71 against 86 %).
  static constexpr bool kHalfVecNhwc = L == Layout::NHWC && sizeof(T) == 2 && K == 7;
  static constexpr int kVec = L == Layout::NHWC ? (kHalfVecNhwc ? kFullVec / 2 : min_int(kFullVec, kWeightLanes))
                                                : (kTallNchw ? kFullVec / 2 : kFullVec);
  static constexpr int kAccumRegs = sizeof(typename NumericTraits<T>::Accum) == 8 ? 32 : 64;
  static constexpr int kRows = K == 0 ? 4 : kTallNchw ? 32 : min_int(16, max_int(4, kAccumRegs / kVec));
  // Tensor-core staged tiles where they measured faster than the CUDA-core
  // ones in the same run (H100, fp16 / bf16 NCHW forward): K = 7 and
  // K >= 15, measured with 8 warps a tile (`2026-11-25-h100-v8.2.json`: K = 7 78 ->
  // 87 %, K = 31 41 -> 62 %; 4 warps 85 and 49 %); K = 9 with 4 since the
  // tile's stores and band copies lost their per-element checks and
  // divisions (f17, `2026-11-26-h100-f17.json`: 4 warps 91 %, 8 warps
  // 90-91 %, the CUDA-core tile then 74-77 %; 70 % before f17), and its dx
  // runs 94 % there (`-f17.4.json`; the CUDA-core tile, since f17.2 at
  // 92-94 % forward, was not measured on dx). Not at K = 3 (56x56: the
  // CUDA-core tile 80-81 % in `-f17.4.json`, 4 warps 78-79 % in `-f17.1.json`).
  // K >= 15 (the band ring) with 12 warps, at most 3 of a 512- or 542-column
  // band's 16-column strips a warp (`2026-11-27-h100-b55-ab.txt`, fp16 NCHW
  // against 8 warps: K = 15 probes forward 84.0 -> 85.3 %, dx 81.9 -> 85.7
  // %; K = 31 +0.6 both; 16 warps under a 64-register bound lost, K = 31 dx
  // -4.6, K = 15 spilled).
  static constexpr int kTensorCoreWarps = !TensorCores ? 0 : K >= kTallKernelHeight ? 12 : K == 7 ? 8 : K == 9 ? 4 : 0;
  // Tall kernels at stride 1 walk rows with the rolling kernel where no
  // staged tile takes them (H100, `2026-11-25-h100-v9.1-rolling.json`
  // against v8.6's run: fp32 NCHW K = 31 44 -> 54 %, fp16/bf16 NHWC 26 ->
  // 39 %), one element a thread at K = 31 (two: fp16 NHWC 32 %; 215-255
  // registers, ptxas); not double, whose sums take two registers each. So
  // does 2-byte NHWC at K = 7 and 9, with 4 lanes (8 bytes), where the
  // register window's 16 rows read 22 and the tensor-core tile (K = 9) pays
  // band copies and fragment stores (H100, `2026-11-26-h100-f25-ab.txt`,
  // `-f25.1-ab.txt`; fp16 / bf16): K = 7 forward 82.2 / 81.5 -> 92.2 /
  // 87.8 %, dx 84.3 / 83.6 -> 94.3 / 89.6 %; K = 9 forward 84.4 / 84.4 ->
  // 85.8 / 85.5 %, dx 85.9 / 85.7 -> 89.4 / 88.9 %. Elsewhere at K <= 9 it
  // lost: 2-byte NHWC K = 3 with 8 lanes 5-7 points (56x56 86 -> 80 %),
  // fp32 NCHW K = 3 5 points with 4 lanes and 22-30 with one (padded seed
  // 89 -> 59 %).
  static constexpr bool kRollingNhwcHalf = L == Layout::NHWC && sizeof(T) == 2 && (K == 7 || K == 9);
  static constexpr int kRollingVec = kRollingNhwcHalf ? 4
                                     : K >= kTallKernelHeight && sizeof(typename NumericTraits<T>::Accum) == 4
                                         ? min_int(kFullVec, pow2_floor(32 / max_int(K, 1)))
                                         : 0;
  // 2-byte NHWC on tensor cores: tall kernels with 4 channels a warp (H100,
  // against `default_simt` in the same run: K = 31 39 -> 70-71 %, its dx
  // 41 -> 71-72 %, `2026-11-26-h100-f14.1.json`; 8 channels: 60-61 %, ptxas
  // spills; since f26's whole-line blocks 75 / 80 %, `-f26.3-ab.txt`). Not
  // at K = 9 (8 channels 84 %, since f25 behind the rolling kernel), K = 7
  // (8 channels 77-78 % against the register window's 77-78 %), K = 3
  // (56x56: 52-59 % against 86 %; each 16-row step costs two barriers and a
  // staged block whatever K) or K = 5 and 1 (not measured).
  static constexpr int kNhwcTensorChannels =
      TensorCores && sizeof(T) == 2 && L == Layout::NHWC && K >= kTallKernelHeight ? 4 : 0;
  using type = TilePolicy<128, kRows, kVec, kDefaultStagedNchw<T>, kTensorCoreWarps, kRollingVec, kNhwcTensorChannels>;
};

// The dw / dbias table. A thread keeps (K + 1) x V sums (taps and bias) and
// an R x V window of dy in registers: V shrinks as K grows so that the sums
// stay within about two thirds of a ~96-register budget (half of it for
// double), and R takes what is left, up to 16. A leaner table (about 64
// values, V = 4 at K <= 7 in every type) was measured on the H100 and lost:
// fp16 NHWC 51 -> 30 %, K = 31 28 -> 19 %, the fp16 NCHW seed problem 55 %
// either way (its warps wait on load latency at 18 % or 28 % occupancy
// alike). `scalar` is the tiling for rows that vectors cannot walk (V = 1).
template <class T, int K, Layout L>
struct DefaultWeightGradPolicy {
  static constexpr int kFullVec = kVecElems16<T>;
  static constexpr int kBudget = sizeof(typename NumericTraits<T>::Accum) == 8 ? 48 : 96;
  static constexpr int kVec = min_int(kFullVec, max_int(1, pow2_floor(kBudget * 2 / 3 / (K + 1))));
  static constexpr int kRows = min_int(16, max_int(2, kBudget / kVec - (K + 1)));
  using type = TilePolicy<128, kRows, kVec, false>;
  using scalar = TilePolicy<128, min_int(16, max_int(4, kBudget * 2 / 3 - (K + 1))), 1, false>;
  // NHWC rows staged in shared memory (weight_grad_staged_kernel.cuh): the
  // window comes from shared memory, so a unit needs no more rows than keep
  // the sums and the converted dy rows within about 80 registers; at most 8.
  using staged_nhwc = TilePolicy<128, min_int(8, max_int(1, (kBudget * 5 / 6 - (K + 1) * kVec) / kVec)), kVec, false>;
  // NHWC rows at stride_h 1 walked in runs (weight_grad_rolling_kernel.cuh):
  // 8 rows of x and of dy in flight a thread and 4 lanes (2 at K >= 15;
  // double: 2, 1, none at K = 31, its sums taking two registers), measured
  // on the H100 against U = 4 / 8 and V = 2 / 4 / 8 (`2026-11-25-h100-b10.1.json`):
  // U = 8 gained 1-4 points nearly everywhere; V = 4 led at K <= 9 in every
  // type (fp16 seed 93 %, V = 8 91 %, V = 2 89 %), V = 2 at K = 31 (fp16
  // 54 %, V = 1 39 %; fp32 84 / 75 %).
  static constexpr int kRollingVec = sizeof(typename NumericTraits<T>::Accum) == 8
                                         ? (K < kTallKernelHeight ? 2 : (K <= 15 ? 1 : 0))
                                         : min_int(kFullVec, K < kTallKernelHeight ? 4 : 2);
  static constexpr int kRollingAhead = 8;
  using rolling = TilePolicy<128, kRollingAhead, max_int(1, kRollingVec), false>;
  // NCHW rows at stride_h 1 take the same entry where its vectors can walk
  // them (H100, `2026-11-25-h100-b11.2.json`, against the register and
  // staged tiles in the same run: the seed problem fp32 82 -> 98 %, fp16 82
  // -> 93 %; K = 9 with pad 4, fp32 68 -> 87 %, fp16 54 -> 67 %). Rows they
  // cannot walk (pads and widths off the vector, strides along W, odd
  // pointers) take it with one lane in 4- and 8-byte types where a column's
  // runs are at least kRollingNchwOneLaneRows rows (out_h / dilation_h):
  // fp32 padded seed (514 rows) 69 -> 73 %, K = 31 (512) 48 -> 68 %; it lost
  // on short columns, whose every run pays K - 1 + U rows of prologue (K = 7,
  // 128 rows: 92 -> 74 %; 56x56, 58 rows: 80 -> 73 %; d2, 130 rows a
  // residue, gained 70 -> 74 % but stays out with them). 2-byte one-lane
  // loads lost everywhere (padded seed 84 -> 61 %). 0: never.
  static constexpr int kRollingNchwOneLaneRows = sizeof(T) >= 4 ? 256 : 0;
  // NCHW rows off the vector at stride 1 along W, read as shifted vectors
  // (two aligned vectors a row and a funnel, shifted_vector.cuh) with the
  // entry's lanes and kRollingShiftedAhead rows in flight (each ring slot
  // holds two vectors), where a column's runs are at least
  // kRollingNchwShiftedRows rows; 0: never. Measured on the H100
  // (`2026-11-25-h100-b14.json`, against one lane and the staged tile in the
  // same run): fp32 padded seed 73 -> 82 % (one lane 73), d2 (128 rows a
  // residue) 70 -> 77 %; it lost on 56-row columns (80 -> 68 %) and at
  // K = 7 (128 rows: 93 -> 71 %). In 2-byte types it lost everywhere (padded
  // seed 84 -> 61 %, d2 86 -> 56 %, K = 7 82 -> 42 %): even the seed problem, which
  // needs no shift, fell 93 -> 65 % through this kernel (the byte permutes
  // and per-lane masks of its funnel). 4 rows in
  // flight led 8 (fp32 padded seed 81 / 76 %), 4 lanes led 2 (81 / 78 %).
  // ptxas (sm_90): fp32 K = 3 168 registers, 12 bytes of spills. Not at
  // K >= 15, where two lanes take 255 registers and spill.
  static constexpr int kRollingShiftedAhead = 4;
  // NCHW rows whose x and dy rows are whole vectors but for pad_left (the
  // x columns at one fixed phase off the vector in every row) take the
  // rolling kernel with that phase as a constant (a funnel without selects,
  // clamps or masks) at the widest lanes up to the entry's that fit, where
  // a column's runs are at least kRollingNchwFixedShiftRows rows: the rows
  // that took the any-phase vectors or one lane. Measured on the H100
  // against main's choices in the same run (`2026-11-26-h100-b31-ab.txt`,
  // fp32): d2 (4 lanes) 76.7 -> 88.7 %, padded seed (2 lanes) 81.6 ->
  // 86.5 %, K = 31 (2 lanes, 248 registers) 71.4 -> 79.8 %, the K = 15
  // probe 71.5 -> 81.6 %; 8 rows in flight led 4 everywhere (d2 89 / 87 %,
  // K = 31 80 / 72 %). Short columns keep the register tile: K = 7 (128
  // rows) 93.5 against 82.2 %, 56x56 82.6 against 77.7 %. Not measured in
  // 2-byte types (tensor cores) or double: 0 (never).
  static constexpr int kRollingNchwShiftedRows = sizeof(T) == 4 && K < 7 && kRollingVec > 1 ? 128 : 0;
  static constexpr bool kRollingNchwShifted = kRollingNchwShiftedRows > 0;
  static constexpr int kRollingNchwFixedShiftRows = sizeof(T) == 4 && kRollingVec > 1
                                                        ? (kRollingNchwShifted ? kRollingNchwShiftedRows
                                                                               : kRollingNchwOneLaneRows)
                                                        : 0;
  // 2-byte NCHW at stride 1 and dilation 1 on tensor cores
  // (weight_grad_mma_kernel.cuh), kTensorCoreThreads a block (one 16-column
  // strip a warp at a time); at K < kTensorCoresOverRollingK only where the
  // rolling kernel's aligned vectors do not take the rows. Measured on the
  // H100 against the CUDA-core choice (`2026-11-26-h100-b18.3.json`, fp16 /
  // bf16): K9 (rolling vectors) 67.5 / 67.7 -> 86.2 / 87.0 %, K7 79.4 /
  // 80.3 -> 87.7 / 88.1 %, K31 39.9 / 41.2 -> 78.3 / 78.4 %, 56x56 60.7 /
  // 60.8 -> 68.9 / 68.6 %; the padded seed 83.6 / 84.0 against 82.6 /
  // 83.7 %; the aligned K3 seed stays on rolling vectors (91.2 / 89.1
  // against 85.9 / 85.4 %).
  static constexpr bool kTensorCores = sizeof(T) == 2 && L == Layout::NCHW;
  static constexpr int kTensorCoresOverRollingK = 5;
  static constexpr int kTensorCoreThreads = K >= kTallKernelHeight ? 256 : 128;
  // Of those, small planes that the plane tile takes
  // (weight_grad_mma_plane_kernel.cuh, plan_weight_grad_mma_plane: rows an
  // odd number of 16-byte vectors, two planes within 48 KiB) go there, a
  // block a plane at kTensorCoresPlaneMinBlocks blocks a multiprocessor
  // (its register bound): the tile is bound by the planes a multiprocessor
  // holds in flight. At 56x56 (fp16 / bf16, `2026-11-27-h100-b51.1-ab.txt`,
  // against the staged tile's 76.2 / 76.7 %) a plane a block at 9 blocks
  // (56 registers, the compiler's own) 79.2 / 78.6, 10 (48) 81.5 / 81.7,
  // 12 (40, spills) 78.8 / 78.9 %; two planes a block, double-buffered, at
  // 7 (by shared memory) 79.1 / 79.4 %. At K >= kTallKernelHeight 48
  // registers spill.
  static constexpr bool kTensorCoresPlane = kTensorCores;
  static constexpr int kTensorCoresPlaneMinBlocks = K >= kTallKernelHeight ? 1 : 10;
  // 2-byte NHWC at stride 1 and dilation 1 on tensor cores
  // (weight_grad_mma_nhwc_kernel.cuh) where C is a multiple of 64 and the
  // tensors 16-byte aligned, at K >= 7. Measured on the H100 against the
  // rolling kernel in the same run (`2026-11-26-h100-b26.5.json`, fp16 /
  // bf16): K31 57.9 / 60.1 -> 87.3 / 87.5 %, K7 79.1 / 77.9 -> 86.6 / 84.9 %;
  // 56x56 K3 (58-row columns, each staging its lead rows before its first
  // products) 65.4 / 69.3 against 66.8 / 67.5 %, left on rolling. Probes
  // at C = 64 (`2026-11-26-h100-b29-probes.json`): K15 92.3 / 92.4 against
  // 78.1 / 78.7 %; K9 89.9 / 89.2 against 91.1 / 89.9 %, within one run's
  // spread, so K9 follows K7.
  static constexpr bool kTensorCoresNhwc = sizeof(T) == 2 && L == Layout::NHWC && K >= 7;
};

// Whether the forward's register window stores each output row at its last
// tap (its sums live from first tap to last) rather than all rows after the
// window's last input row (window_rows, forward_kernel.cuh). Measured on the
// H100 (`2026-11-25-h100-v10.json` against v9.1's run): early stores gain in
// 2-byte NHWC at K = 3 (seed 87-88 -> 93-97 %, d2 92 -> 94-95 %) and K = 9
// (67-68 -> 77-79 %), where they free 28-40 of ~100-160 registers; they
// lose at K = 7 (-2 to -3 points), K = 5 with window step 2 (-13) and in
// every fp32 and staged NCHW case (-2 to -13), where ptxas then kept the
// window's loads behind the stores.
template <class T, int K, Layout L, int M>
inline constexpr bool kWindowEarlyStores = sizeof(T) == 2 && L == Layout::NHWC&& M == 1 && (K == 3 || K == 9);

// Whether the default table's register window takes NCHW rows that are off
// the vector only by pad_left (x's and y's rows whole vectors) with x at a
// fixed phase (forward_kernel's Shift): in place of the one-lane window
// where y's rows are the wider (the forward) and of the staged tile where
// x's are (dx; choose_kernel). Measured on the H100 against main in the
// same run (fp32, `2026-11-26-h100-f27.1-ab.txt`): forward padded seed
// 89.8 -> 94.1 %, dx 56x56 86.9 -> 91.8 %, dx K = 7 86.9 -> 95.4 %. The
// other two lost: dx padded seed and d2 on the one-lane window 0.8 and 1.4
// points (97.3 / 97.4 -> 96.5 / 96.0 %), the forward's staged tile at K = 7
// (98.4 -> 93.2 %, `-f27-ab.txt`) and 56x56 (91.6 -> 90.2 %). In fp16 it
// lost everywhere it went (padded seed 96 -> 67 %, 56x56 82 -> 66 %, dx
// 56x56 85 -> 65 %; `-f27.1-ab.txt`, its fx2 side): 2-byte types are off.
// Tall kernels roll instead.
template <class T, int K, Layout L>
inline constexpr bool kWindowFixedShift = sizeof(T) == 4 && L == Layout::NCHW&& K > 0 && K < kTallKernelHeight;

// Whether the default table stages NCHW rows that no whole-row staged tile
// fits (tall kernels on wide rows) in column strips
// (forward_strips_nchw_kernel): x's box, y's strip through shared memory and out as aligned
// 16-byte vectors, in place of the rolling kernel, whose stores of rows off
// the 32-byte sector cost it (f22-f24 in bench/NOTES.md). H100, one call
// (f39.3): a K = 15 probe with rows of 526 66 -> 79 % of the floor; fp32
// K = 31 at pad 15 (rows of 542) 71.6 -> 71.9, where the strip tile's ~70
// instructions an output make it issue-bound. fp32 only: 2-byte types run
// tensor-core tiles there.
template <class T, int K, Layout L>
inline constexpr bool kStagedStrips = sizeof(T) == 4 && L == Layout::NCHW&& K >= kTallKernelHeight;

template <class Policy, class T, int K, Layout L>
struct ResolvePolicy {
  using type = Policy;
};
template <bool TensorCores, class T, int K, Layout L>
struct ResolvePolicy<DefaultTable<TensorCores>, T, K, L> {
  using type = typename DefaultTilePolicy<T, K, L, TensorCores>::type;
};

/// Whether Policy is one of the default tables (not an explicit TilePolicy,
/// whose tiling is taken as given).
template <class Policy>
inline constexpr bool is_default_table_v = false;
template <bool TensorCores>
inline constexpr bool is_default_table_v<DefaultTable<TensorCores>> = true;

}  // namespace detail
}  // namespace dwconv
