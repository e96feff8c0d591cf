// GPU tests of forward() for one element type (DWCONV_TEST_TYPE, one binary
// per type so the four compile in parallel): random edge-biased problems
// against the reference, every kernel specialization, offsets past 2^31, and
// streams. Skipped, not failed, without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <dwconv/dwconv.cuh>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
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

// Where each operand sits inside its allocation: 0 keeps the allocation's
// 256-byte alignment, 1 shifts by one element (an "odd" pointer).
struct Offsets {
  int x = 0, w = 0, b = 0, y = 0;
};

struct CaseOptions {
  bool has_bias = true;
  bool integers = true;
  Offsets offsets;
  cudaStream_t stream = nullptr;
};

// Runs one problem on the GPU and compares it with the reference. Returns ""
// when it matches, else what differed.
template <class Policy = DefaultPolicy>
std::string run_case(const Problem& p, std::mt19937_64& rng, const CaseOptions& o,
                     detail::KernelChoice* choice = nullptr) {
  std::vector<T> x(size_t(p.x_elements())), w(size_t(p.w_elements())), b(size_t(p.c));
  const int amp = testbed::integer_amplitude<T>(p.k);
  testbed::fill_random(x, rng, o.integers, amp);
  testbed::fill_random(w, rng, o.integers, amp);
  testbed::fill_random(b, rng, o.integers, amp);

  DeviceBuffer dx, dw, db, dy;
  T *xp = nullptr, *wp = nullptr, *bp = nullptr, *yp = nullptr;
  std::string err;
  if (!(err = testbed::upload(dx, x, o.offsets.x, &xp)).empty()) return "x: " + err;
  if (!(err = testbed::upload(dw, w, o.offsets.w, &wp)).empty()) return "w: " + err;
  if (!(err = testbed::upload(db, b, o.offsets.b, &bp)).empty()) return "b: " + err;
  if (!(err = testbed::poisoned(dy, size_t(p.y_elements()), o.offsets.y, &yp)).empty()) return "y: " + err;
  // The copies and the memset run on the legacy default stream, which a
  // non-blocking stream does not wait for.
  if (cudaDeviceSynchronize() != cudaSuccess) return "synchronize before forward";

  if (choice) *choice = detail::choose_kernel<T, Policy>(p, xp, yp);
  const Status s = forward<T, Policy>(p, xp, wp, o.has_bias ? bp : nullptr, yp, o.stream);
  if (!s.ok()) return std::string("forward failed: ") + s.message();
  if (!(err = testbed::finish(o.stream)).empty()) return err;

  std::vector<T> got;
  if (!(err = testbed::download(yp, size_t(p.y_elements()), &got)).empty()) return "y: " + err;
  return testbed::compare<T>(p, x, w, b, o.has_bias, got, o.integers);
}

class ForwardGpu : public ::testing::Test {
 protected:
  void SetUp() override { DWCONV_REQUIRE_GPU(); }
};

void random_problems(Layout layout) {
  const uint64_t seed = testbed::test_seed();
  const int cases = testbed::test_cases(600);
  std::printf("[ seed ] %s %s: DWCONV_TEST_SEED=%llu, %d cases\n", Traits::kName, to_string(layout),
              (unsigned long long)seed, cases);
  std::mt19937_64 rng(seed);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  std::map<std::tuple<int, int, int>, int> seen;  // (static_k, stride_ratio, vec) -> count
  int failures = 0;
  for (int i = 0; i < cases && failures < 5; ++i) {
    const Problem p = testbed::random_problem(rng, layout);
    CaseOptions o;
    o.has_bias = rng() % 2 == 0;
    o.integers = rng() % 2 == 0;
    o.offsets = {int(rng() % 4 == 0), int(rng() % 4 == 0), int(rng() % 4 == 0), int(rng() % 4 == 0)};
    o.stream = (i % 3 == 0) ? nullptr : stream;
    detail::KernelChoice c;
    const std::string err = run_case(p, rng, o, &c);
    ++seen[{c.static_k, c.stride_ratio, c.vec_elems}];
    if (!err.empty()) {
      ++failures;
      ADD_FAILURE() << "case " << i << " (seed " << seed << "): " << testbed::describe(p) << " bias=" << o.has_bias
                    << " integers=" << o.integers << " offsets=" << o.offsets.x << o.offsets.w << o.offsets.b
                    << o.offsets.y << "\n"
                    << err;
    }
  }
  cudaStreamDestroy(stream);
  std::printf("[ kernels ] %zu distinct (K, stride ratio, vector) choices exercised\n", seen.size());
}

TEST_F(ForwardGpu, RandomProblemsNCHW) { random_problems(Layout::NCHW); }
TEST_F(ForwardGpu, RandomProblemsNHWC) { random_problems(Layout::NHWC); }

// The rolling kernel's vector in the default table at kernel height k (0:
// the table does not roll k).
int table_rolling_vec(Layout layout, int k) {
  int vec = 0;
  detail::dispatch_static_k(k, [&](auto k_const) {
    detail::dispatch_layout(layout, [&](auto layout_const) {
      vec =
          detail::DefaultTilePolicy<T, decltype(k_const)::value, decltype(layout_const)::value>::type::kRollingVecElems;
    });
  });
  return vec;
}

// The NHWC tensor-core tile's channels a warp in the default table at
// kernel height k (0: the table does not take it).
int table_nhwc_tensor_channels(int k) {
  int channels = 0;
  detail::dispatch_static_k(k, [&](auto k_const) {
    channels = detail::DefaultTilePolicy<T, decltype(k_const)::value, Layout::NHWC>::type::kNhwcTensorChannels;
  });
  return channels;
}

// Every compiled specialization runs at least once: each static K with
// window steps 1 and 2 through vector access, scalar access and (NCHW) the
// shared-memory staged kernel, both layouts, the runtime-K kernel in both
// access widths, and where the table rolls a kernel height at stride 1, the
// rolling kernel with its vector and with single elements. Stride 2 with
// dilation 2 keeps a window step of 1 off the rolling kernel.
TEST_F(ForwardGpu, EverySpecialization) {
  std::mt19937_64 rng(12345);
  // kVectorMany: kVector's problem with images enough that the register
  // window keeps the table's rows (not small_rows).
  enum Path { kVector, kVectorMany, kScalar, kWideScalar };
  // (nchw, static_k, stride_ratio, vec_elems, staged, rolling, small_rows)
  std::set<std::tuple<bool, int, int, int, bool, bool, bool>> covered;
  std::vector<int> ks(std::begin(detail::kStaticKernelHeights), std::end(detail::kStaticKernelHeights));
  ks.push_back(2);  // not in the table: runtime K
  ks.push_back(16);
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (int k : ks)
      for (int stride_h : {1, 2, 3, -2})  // -2: stride 2, dilation 2
        for (Path path : {kVector, kVectorMany, kScalar, kWideScalar}) {
          const bool vector = path == kVector || path == kVectorMany;
          Problem p;
          p.layout = layout;
          p.n = 2;
          p.c = 16;
          p.k = k;
          p.h = 3 * k + 20;
          p.w = vector ? 48 : 37;
          if (path == kWideScalar) {
            // Rows too wide for a staged tile in shared memory.
            p.n = 1;
            p.c = 2;
            p.h = k + 6;
            p.w = 12001;
          }
          p.stride_h = stride_h < 0 ? -stride_h : stride_h;
          p.dilation_h = stride_h < 0 ? 2 : 1;
          p.pad_top = k / 2;
          p.pad_bottom = k / 2;
          const void* aligned = reinterpret_cast<const void*>(uintptr_t(256));
          while (path == kVectorMany && p.n < 1024 &&
                 detail::choose_kernel<T, DefaultPolicy>(p, aligned, aligned).small_rows)
            p.n *= 2;
          CaseOptions o;
          o.offsets.y = vector ? 0 : 1;
          detail::KernelChoice c;
          const std::string err = run_case(p, rng, o, &c);
          EXPECT_EQ(err, "") << testbed::describe(p);
          const bool static_k =
              std::find(std::begin(detail::kStaticKernelHeights), std::end(detail::kStaticKernelHeights), k) !=
              std::end(detail::kStaticKernelHeights);
          EXPECT_EQ(c.static_k, static_k && p.stride_h <= 2 ? k : 0) << testbed::describe(p);
          const int rolling_vec = static_k ? table_rolling_vec(layout, k) : 0;
          EXPECT_EQ(c.rolling, rolling_vec > 0 && p.stride_h == 1 && !c.staged && !c.mma_nhwc) << testbed::describe(p);
          if (c.rolling) {
            EXPECT_EQ(c.vec_elems, vector ? rolling_vec : 1) << testbed::describe(p);
          } else {
            EXPECT_EQ(c.vec_elems > 1, vector) << testbed::describe(p);
            if (path == kVectorMany) EXPECT_FALSE(c.small_rows) << testbed::describe(p);
            EXPECT_EQ(c.staged,
                      detail::kDefaultStagedNchw<T> && layout == Layout::NCHW && c.static_k > 0 && path == kScalar)
                << testbed::describe(p);
          }
          // The NHWC tensor-core tile has its own test (NhwcTensorCoreTiles).
          if (!c.mma_nhwc)
            covered.insert(
                {layout == Layout::NCHW, c.static_k, c.stride_ratio, c.vec_elems, c.staged, c.rolling, c.small_rows});
        }
  // What must have run: per layout and static K, both window steps through
  // the register window with vectors (at the table's rows and at
  // small_rows) and with single elements, and in NCHW the staged kernel;
  // the runtime-K kernel in both widths; the rolling kernel in each width
  // the table gives it.
  auto ran = [&](bool nchw, int k, int ratio, bool vector, bool staged, bool rolling, bool small = false) {
    for (const auto& t : covered)
      if (std::get<0>(t) == nchw && std::get<1>(t) == k && std::get<2>(t) == ratio && (std::get<3>(t) > 1) == vector &&
          std::get<4>(t) == staged && std::get<5>(t) == rolling && std::get<6>(t) == small)
        return true;
    return false;
  };
  for (bool nchw : {true, false}) {
    const Layout layout = nchw ? Layout::NCHW : Layout::NHWC;
    for (int k : detail::kStaticKernelHeights) {
      for (int ratio : {1, 2}) {
        EXPECT_TRUE(ran(nchw, k, ratio, true, false, false)) << nchw << " K " << k << " ratio " << ratio;
        EXPECT_TRUE(ran(nchw, k, ratio, true, false, false, true)) << nchw << " small K " << k << " ratio " << ratio;
        EXPECT_TRUE(ran(nchw, k, ratio, false, false, false)) << nchw << " K " << k << " ratio " << ratio;
        if (nchw && detail::kDefaultStagedNchw<T>)
          EXPECT_TRUE(ran(nchw, k, ratio, false, true, false)) << "staged K " << k << " ratio " << ratio;
      }
      const int rolling_vec = table_rolling_vec(layout, k);
      if (rolling_vec > 0) {
        EXPECT_TRUE(ran(nchw, k, 1, false, false, true)) << nchw << " rolling K " << k;
        // Where the NHWC tensor-core tile takes the vector rows, RollingKernel
        // runs the rolling kernel's vectors (6 channels).
        const bool nhwc_tc = !nchw && table_nhwc_tensor_channels(k) > 0;
        if (rolling_vec > 1 && !nhwc_tc) EXPECT_TRUE(ran(nchw, k, 1, true, false, true)) << nchw << " rolling K " << k;
      }
    }
    EXPECT_TRUE(ran(nchw, 0, 0, true, false, false));
    EXPECT_TRUE(ran(nchw, 0, 0, false, false, false));
  }
}

// The rolling kernel (the default table at K >= 15, stride 1, where no
// staged or tensor-core tile takes the problem): runs shorter than K and
// columns of several runs, columns that lie in the padding (at pad 15 whole
// warps of them in NHWC, parts of warps in NCHW), dilation (one run per
// residue), vector and single-element access. BackwardGpu runs it with negative padding
// (stride-1 dx).
TEST_F(ForwardGpu, RollingKernel) {
  if (table_rolling_vec(Layout::NCHW, 15) == 0) GTEST_SKIP() << "the table does not roll this type";
  std::mt19937_64 rng(23);
  int rolled = 0;
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (int k : {15, 31})
      for (int variant = 0; variant < 6; ++variant) {
        Problem p;
        p.layout = layout;
        p.n = 2;
        p.c = 6;
        p.k = k;
        p.h = variant == 0 ? 9 : 5 * k + 3;  // variant 0: fewer rows than taps
        p.w = variant == 1 ? 37 : (variant == 3 ? 400 : 24);
        p.pad_top = variant == 2 ? k + 4 : k / 2;
        p.pad_bottom = variant == 2 ? 2 : k / 2;
        // variant 3: rows of 428 outputs, 28 of them padding columns (NCHW:
        // warps of padding and inside columns), y one element off
        p.pad_left = variant == 3 ? 15 : 0;
        p.pad_right = variant == 3 ? 13 : 0;
        p.dilation_h = variant == 4 ? 2 : (variant == 5 ? 3 : 1);
        if (variant == 5) {  // residues of unequal length, padding only below
          p.pad_top = 0;
          p.pad_bottom = 2 * k + 1;
          p.h = 4 * k * 3 + 20;
        }
        CaseOptions o;
        o.offsets.x = variant == 1 ? 1 : 0;
        o.offsets.y = variant == 3 ? 1 : 0;
        o.integers = variant != 3;
        detail::KernelChoice c;
        EXPECT_EQ(run_case(p, rng, o, &c), "") << testbed::describe(p);
        if (c.rolling) ++rolled;
        EXPECT_TRUE(c.rolling || c.staged) << testbed::describe(p);
        if (variant == 0 && c.rolling) EXPECT_EQ(c.rows_per_thread, p.out_h()) << testbed::describe(p);
        if (variant == 2 && c.rolling) EXPECT_LT(c.rows_per_thread, p.out_h()) << testbed::describe(p);
      }
  EXPECT_GE(rolled, 2 * 2 * 6 / 2);
}

// NCHW rows whose x and y rows are whole vectors but for pad_left take the
// register window with x at a fixed phase (fixed_x_shift) where the table
// says so and no staged tile takes them (rows of 512): every phase of 4 and
// 2 lanes, pads wider than a vector, heights under K, dilation; x one
// element off falls back. Narrower rows check the staged tile beside them.
TEST_F(ForwardGpu, FixedShiftWindow) {
  std::mt19937_64 rng(37);
  int i = 0, fixed = 0;
  for (int k : {1, 3, 5, 7, 9})
    for (int dil : {1, 2})
      for (int pad : {1, 2, 3, 6, 15})
        for (int64_t w : {int64_t(4), int64_t(6), int64_t(40), int64_t(512)}) {
          Problem p;
          p.layout = Layout::NCHW;
          p.n = 2;
          p.c = 70;
          p.k = k;
          p.dilation_h = dil;
          p.h = i % 4 == 0 ? 1 + i % 3 : 20 + 7 * (i % 5);
          p.w = w;
          p.pad_top = (k - 1) * dil / 2 + i % 2;
          p.pad_bottom = (k - 1) * dil / 2;
          p.pad_left = pad;
          p.pad_right = testbed::fixed_shift_pad_right(pad, i);
          ++i;
          CaseOptions o;
          o.has_bias = i % 3 == 0;
          o.integers = i % 2 == 0;
          o.offsets.x = i % 7 == 0 ? 1 : 0;
          detail::KernelChoice c;
          EXPECT_EQ(run_case(p, rng, o, &c), "") << (c.fixed_shift ? "fixed shift " : "") << testbed::describe(p);
          fixed += c.fixed_shift ? 1 : 0;
        }
  if (detail::kWindowFixedShift<T, 3, Layout::NCHW>)
    EXPECT_GE(fixed, 35);
  else
    EXPECT_EQ(fixed, 0);
}

// NHWC register windows whose rows are a few vectors past a power of two
// take fewer threads along a row and more row units a block
// (row_threads_log2): blocks whose threads span several units, each unit's
// last row block part empty.
TEST_F(ForwardGpu, NhwcRowsOfFewThreads) {
  std::mt19937_64 rng(41);
  int i = 0, fewer = 0;
  for (int k : {1, 3, 5})
    for (int64_t c : {int64_t(8), int64_t(16)})
      for (int64_t w : {int64_t(254), int64_t(510), int64_t(512)}) {
        Problem p;  // large enough for the table's rows (not a small problem)
        p.layout = Layout::NHWC;
        p.n = 8;
        p.c = c;
        p.k = k;
        p.h = 60 + 11 * (i % 3);
        p.w = w;
        p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = (k - 1) / 2 + 1 + i % 2;
        ++i;
        CaseOptions o;
        o.has_bias = i % 2 == 0;
        o.integers = i % 3 == 0;
        detail::KernelChoice choice;
        EXPECT_EQ(run_case(p, rng, o, &choice), "") << testbed::describe(p);
        if (!choice.rolling && !choice.staged && !choice.mma && !choice.mma_nhwc) {
          const detail::ForwardParams fp = detail::make_forward_params(p, choice);
          const int64_t groups = (fp.cols + choice.vec_elems - 1) / choice.vec_elems;
          fewer += (int64_t(1) << fp.col_threads_log2) < std::min<int64_t>(groups, choice.threads);
        }
      }
  EXPECT_GE(fewer, 8);  // 11-13 of 18 in each type (host count)
}

// Dilation that the stride divides walks rows dilation apart (row_step > 1).
TEST_F(ForwardGpu, DilationRowSteps) {
  std::mt19937_64 rng(7);
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (int dil : {2, 3, 4})
      for (int stride_h : {1, 2}) {
        Problem p;
        p.layout = layout;
        p.n = 1;
        p.c = 8;
        p.k = 3;
        p.h = 57;
        p.w = 40;
        p.stride_h = stride_h;
        p.dilation_h = dil;
        p.pad_top = p.pad_bottom = dil;
        detail::KernelChoice c;
        EXPECT_EQ(run_case(p, rng, CaseOptions{}, &c), "") << testbed::describe(p);
        EXPECT_EQ(c.static_k, 3);
      }
}

// Tall kernels whose 32-row unit needs more than 48 KiB of shared memory
// (2-byte types only: wider types fall back to scalar access), and bands
// that lie mostly or wholly in the top and bottom padding, which the staged
// kernel zero-fills.
TEST_F(ForwardGpu, StagedBandsBeyond48KiBAndInPadding) {
  std::mt19937_64 rng(11);
  const bool two_bytes = sizeof(T) == 2;
  for (int pad : {15, 100}) {
    Problem p;
    p.n = 1;
    p.c = 3;
    p.k = 31;
    p.h = pad == 15 ? 70 : 5;  // pad 100: the first tiles read only padding
    p.w = 500;
    p.pad_top = p.pad_bottom = pad;
    p.pad_left = p.pad_right = 1;
    detail::KernelChoice c;
    EXPECT_EQ(run_case(p, rng, CaseOptions{}, &c), "") << testbed::describe(p);
    // fp32 stages column strips instead (StagedStrips).
    const bool strips = detail::kStagedStrips<T, 31, Layout::NCHW>;
    EXPECT_EQ(c.staged, (two_bytes || strips) && detail::kDefaultStagedNchw<T>) << testbed::describe(p);
    EXPECT_EQ(c.staged_strip_cols > 0, strips) << testbed::describe(p);
    if (c.staged && !strips) EXPECT_GT(c.smem_bytes, 48 * 1024) << testbed::describe(p);
  }
}

// Staged tiles in column strips (fp32 NCHW rows too wide for a whole-row
// tile at K >= 15): strips that end part-way through a row's last vector
// and a last strip narrower than the others, strips wholly in the left or
// right padding (pad 130), y one element off (every row's phase moves),
// stride 2 both ways (window step 2), dilation 2 (row step 2), bands in the
// top padding and heights under K; dilation 3 (a unit of 96 rows) where it
// fits the tall budget. x one element off and widths off the vector roll.
TEST_F(ForwardGpu, StagedStrips) {
  std::mt19937_64 rng(59);
  int strips = 0, rolled = 0;
  for (int k : {15, 31})
    for (int variant = 0; variant < 8; ++variant) {
      Problem p;
      p.n = 2;
      p.c = 3;
      p.k = k;
      p.h = variant == 5 ? k - 4 : 3 * k + 11;
      p.w = variant == 6 ? 402 : 400;
      p.pad_top = variant == 5 ? k + 3 : k / 2;
      p.pad_bottom = k / 2 + variant % 2;
      p.pad_left = variant == 2 ? 130 : 15;
      p.pad_right = variant == 2 ? 3 : 13 + variant % 3;
      p.stride_h = p.stride_w = variant == 3 ? 2 : 1;
      p.dilation_h = variant == 4 ? 2 : (variant == 1 ? 3 : 1);
      CaseOptions o;
      o.has_bias = variant % 2 == 0;
      o.integers = variant != 7;
      o.offsets.y = variant == 0 || variant == 3 ? 1 : 0;
      o.offsets.x = variant == 7 ? 1 : 0;
      detail::KernelChoice c;
      EXPECT_EQ(run_case(p, rng, o, &c), "") << testbed::describe(p);
      strips += c.staged_strip_cols > 0;
      rolled += c.rolling;
      if (c.staged_strip_cols > 0) {
        EXPECT_TRUE(c.staged && !c.staged_pairs);
        EXPECT_LE(c.smem_bytes, detail::kStagedTallSmemBudget);
      }
      if (variant >= 6) EXPECT_EQ(c.staged_strip_cols, 0) << testbed::describe(p);
    }
  if (detail::kStagedStrips<T, 31, Layout::NCHW>) {
    EXPECT_GE(strips, 2 * 5);
    EXPECT_GE(rolled, 2 * 2);
  } else {
    EXPECT_EQ(strips, 0);
  }
}

// The CUDA-core staged tile's column pairs (2-byte types, stride 1 along W,
// even widths): pads that put a row's first pair half in the padding or
// wholly in it, on either side and wider than a pair; an odd x (odd
// shared band bases, so pairs start one column earlier); row steps of 2
// (stride_h 2, dilation 2); a short last unit; tiles of few items (blocks
// of 64 threads) and of many (W = 600: 128). Odd widths and stride 2 along
// W take single columns.
TEST_F(ForwardGpu, StagedColumnPairs) {
  std::mt19937_64 rng(23);
  int pairs = 0, small_blocks = 0;
  for (int k : {3, 9})
    for (int w : {58, 64, 37, 600})
      for (int variant = 0; variant < 4; ++variant) {
        Problem p;
        p.n = 2;
        p.c = 3;
        p.k = k;
        p.h = 41 + k;
        p.w = w;
        p.pad_top = k / 2;
        p.pad_bottom = k / 2 + variant % 2;
        p.pad_left = variant == 0 ? 1 : (variant == 1 ? 4 : (variant == 2 ? 0 : 5));
        p.pad_right = variant == 0 ? 1 : (variant == 1 ? 0 : 3);
        p.stride_h = variant == 3 ? 2 : 1;
        p.stride_w = variant == 3 && w == 64 ? 2 : 1;
        p.dilation_h = variant == 2 && w != 600 ? 2 : 1;  // K = 9, dilation 2 at W = 600: no unit fits 48 KiB
        CaseOptions o;
        o.offsets.x = variant == 1 || variant == 2 ? 1 : 0;
        o.offsets.y = variant == 0 ? 1 : 0;
        o.integers = variant != 3;
        detail::KernelChoice c;
        // The CUDA-core tiles at every K (the table's tensor cores would take some).
        EXPECT_EQ(run_case<DefaultTable<false>>(p, rng, o, &c), "") << testbed::describe(p);
        // Wider types at W = 600 need more than 48 KiB a unit: scalar rows.
        EXPECT_EQ(c.staged, sizeof(T) == 2 || w != 600) << testbed::describe(p);
        const bool expect_pairs = sizeof(T) == 2 && p.stride_w == 1 && w % 2 == 0;
        EXPECT_EQ(c.staged_pairs, expect_pairs) << testbed::describe(p);
        pairs += c.staged_pairs;
        small_blocks += c.staged_pairs && c.threads == detail::kStagedSmallThreads;
      }
  if (sizeof(T) == 2) {
    EXPECT_GE(pairs, 20);
    EXPECT_GE(small_blocks, 10);
    EXPECT_GE(pairs - small_blocks, 4);
  }
}

// The tensor-core tiles (2-byte types, stride 1, dilation 1), at every
// static K through an explicit policy (the default table takes them at
// K = 7 and K >= 15): bands pitched for ldmatrix (W % 8 == 0) or contiguous
// (W = 46 or 37, or an odd x); strips of 16 columns, one half past the row
// (W % 16 == 8, and the unaligned widths); output bands pitched (Wo % 8 ==
// 0, y aligned) or packed (an odd y, or Wo % 8 != 0); padding columns left
// and right, wider than a strip too; several row tiles per plane with a
// short last one. The same problems with tensor cores off take the
// CUDA-core tiles.
TEST_F(ForwardGpu, TensorCoreTiles) {
  if constexpr (sizeof(T) != 2) {
    GTEST_SKIP() << "tensor-core tiles are for 2-byte types";
  } else {
    std::mt19937_64 rng(17);
    int runs = 0;
    for (int k : detail::kStaticKernelHeights)
      for (int w : {48, 40, 56, 64, 46, 37})
        for (int variant = 0; variant < 3; ++variant) {
          Problem p;
          p.n = 2;
          p.c = 3;
          p.k = k;
          p.h = 150 + k;
          p.w = w;
          p.pad_top = k / 2;
          p.pad_bottom = variant == 2 ? 0 : k / 2 + 1;
          p.pad_left = variant == 0 ? 1 : (variant == 1 ? 3 : 21);
          p.pad_right = variant == 0 ? 7 : (variant == 1 ? 0 : 2);
          CaseOptions o;
          o.offsets.y = variant == 1 ? 1 : 0;
          o.offsets.x = variant == 2 && w == 48 ? 1 : 0;
          o.integers = variant != 2;
          detail::KernelChoice c;
          // Tensor cores at every K, in tiles of 4 and of 8 warps.
          const std::string err = variant == 1 ? run_case<TilePolicy<128, 8, kVecElems16<T>, true, 4>>(p, rng, o, &c)
                                               : run_case<TilePolicy<128, 8, kVecElems16<T>, true, 8>>(p, rng, o, &c);
          EXPECT_EQ(err, "") << testbed::describe(p) << " y offset " << o.offsets.y;
          EXPECT_TRUE(c.mma && c.staged) << testbed::describe(p);
          EXPECT_EQ(c.mma_aligned_rows, w % 8 == 0 && o.offsets.x == 0) << testbed::describe(p);
          EXPECT_EQ(c.staged_tile_rows % 16, 0) << testbed::describe(p);
          EXPECT_LT(c.staged_tile_rows, p.out_h()) << testbed::describe(p);
          const detail::KernelChoice simt = (detail::choose_kernel<T, DefaultTable<false>>(p, &c, &c));
          EXPECT_FALSE(simt.mma) << testbed::describe(p);
          ++runs;
        }
    EXPECT_EQ(runs, int(std::size(detail::kStaticKernelHeights)) * 6 * 3);
  }
}

// The tensor-core tile keeps its band from one tile of a plane to the next
// at K >= kMmaBandRingMinK: pitched (aligned rows) or contiguous (rows off
// the 16-byte vector, or an odd x: each plane's ring at its own base; at
// K = 15 the runs of new slots wrap round the ring). Problems of at least
// twice as many tiles as the GPU holds blocks of the tile, so that each
// block walks several tiles and crosses into the next plane, with padding
// rows and columns, short last tiles and the bias. The default table's other
// tensor-core heights (7 in 8-warp blocks, 9 in 4-warp blocks) take one
// tile a block on the same kind of problem.
template <int K>
void band_ring_case(const Problem& p, bool ring, std::mt19937_64& rng, int x_offset = 0) {
  constexpr int kThreads = 32 * detail::DefaultTilePolicy<T, K, Layout::NCHW>::kTensorCoreWarps;
  CaseOptions o;
  o.offsets.x = x_offset;
  detail::KernelChoice c;
  EXPECT_EQ(run_case(p, rng, o, &c), "") << testbed::describe(p) << " x offset " << x_offset;
  const bool aligned = p.w % 8 == 0 && x_offset == 0;
  ASSERT_TRUE(c.mma) << testbed::describe(p);
  EXPECT_EQ(c.mma_aligned_rows, aligned) << testbed::describe(p);
  EXPECT_EQ(c.mma_band_ring, ring) << testbed::describe(p) << " x offset " << x_offset << " tile rows "
                                   << c.staged_tile_rows;
  const int64_t tiles = detail::make_forward_params(p, c).tiles;
  auto kernel = aligned ? detail::forward_mma_nchw_kernel<T, kThreads, K, true>
                        : detail::forward_mma_nchw_kernel<T, kThreads, K, false>;
  if constexpr (K >= detail::kMmaBandRingMinK) {
    if (ring)
      kernel = aligned ? detail::forward_mma_nchw_kernel<T, kThreads, K, true, true>
                       : detail::forward_mma_nchw_kernel<T, kThreads, K, false, true>;
  }
  const int64_t wave = detail::resident_blocks(kernel, kThreads, c.smem_bytes, 0);
  EXPECT_GE(tiles, 2 * wave) << testbed::describe(p) << " tile rows " << c.staged_tile_rows;
}

TEST_F(ForwardGpu, TensorCoreTileBandRing) {
  if constexpr (sizeof(T) != 2) {
    GTEST_SKIP() << "tensor-core tiles are for 2-byte types";
  } else {
    std::mt19937_64 rng(23);
    auto problem = [](int n, int c, int h, int w, int k, int pad_bottom) {
      Problem p;
      p.n = n;
      p.c = c;
      p.h = h;
      p.w = w;
      p.k = k;
      p.pad_top = p.pad_left = p.pad_right = k / 2;
      p.pad_bottom = pad_bottom;
      return p;
    };
    band_ring_case<31>(problem(2, 16, 600, 512, 31, 15), true, rng);
    band_ring_case<15>(problem(2, 16, 600, 512, 15, 3), true, rng);
    band_ring_case<31>(problem(2, 16, 600, 542, 31, 15), true, rng);
    band_ring_case<31>(problem(2, 16, 600, 512, 31, 9), true, rng, 1);
    band_ring_case<15>(problem(2, 16, 600, 512, 15, 7), true, rng, 1);
    // More planes than the wave holds blocks: shares of a few tiles that
    // start and end inside planes.
    band_ring_case<31>(problem(2, 250, 70, 512, 31, 15), true, rng);
    band_ring_case<15>(problem(2, 250, 70, 512, 15, 7), true, rng, 1);
    band_ring_case<7>(problem(8, 48, 300, 128, 7, 4), false, rng);
    band_ring_case<9>(problem(4, 32, 400, 256, 9, 2), false, rng);
  }
}

// The NHWC tensor-core tile (2-byte types, stride 1, dilation 1), at every
// static K through explicit policies of 4 and 8 channels a warp (the
// default table takes it at K >= 15): heights of several 16-row blocks
// with a short last one; fewer input rows than a block, the band mostly in
// the padding; columns of several runs (a small problem) with a short last
// run; padding columns left and right; pixel rows that are not whole
// groups of 8; blocks over whole lines (C a multiple of 64) and 4-warp
// blocks. Channels off the block's multiple and odd pointers take other
// kernels.
TEST_F(ForwardGpu, NhwcTensorCoreTiles) {
  if constexpr (sizeof(T) != 2) {
    GTEST_SKIP() << "tensor-core tiles are for 2-byte types";
  } else {
    constexpr int kV = kVecElems16<T>;
    std::mt19937_64 rng(19);
    int tiles = 0;
    for (int k : detail::kStaticKernelHeights)
      for (int channels : {4, 8})
        for (int variant = 0; variant < 8; ++variant) {
          Problem p;
          p.layout = Layout::NHWC;
          p.n = 2;
          p.c = 32;
          p.k = k;
          p.h = 70 + k;
          p.w = 21;
          p.pad_top = p.pad_bottom = k / 2;
          p.pad_left = 1;
          p.pad_right = 2;
          CaseOptions o;
          if (variant == 1) {
            p.c = 16;
            p.h = 5;
            p.w = 9;
            p.pad_top = k + 2;
            p.pad_bottom = 3;
            p.pad_left = p.pad_right = 0;
            o.integers = false;
          } else if (variant == 2) {
            p.n = 1;
            p.c = 32;
            p.h = 300;
            p.w = 13;
            p.pad_top = k - 1;
            p.pad_bottom = 0;
            p.pad_left = 3;
            p.pad_right = 0;
            o.has_bias = false;
          } else if (variant == 3) {
            p.c = 48;  // a multiple of 16, not of 32
          } else if (variant == 4) {
            o.offsets.x = 1;
          } else if (variant == 5) {
            p.c = 64;  // one whole-line block a pixel
          } else if (variant == 6) {
            p.n = 1;
            p.c = 192;  // three whole-line blocks a pixel
            p.h = 20 + k;
          } else if (variant == 7) {
            // 256 columns of 3 output blocks, 768 in all: at K = 15 more
            // least shares (4 blocks) than the H100's wave of line blocks
            // (132), so shares of 5-6; at K = 31, 96 shares of 8. Either
            // way shares cross columns.
            p.n = 1;
            p.c = 64;
            p.h = 40;
            p.w = 2048;
            p.pad_left = p.pad_right = 0;
          }
          detail::KernelChoice c;
          const std::string err = channels == 4 ? run_case<TilePolicy<128, 8, kV, true, 8, 0, 4>>(p, rng, o, &c)
                                                : run_case<TilePolicy<128, 8, kV, true, 8, 0, 8>>(p, rng, o, &c);
          EXPECT_EQ(err, "") << testbed::describe(p) << " channels " << channels;
          const bool line = p.c % detail::kMmaNhwcLineChannels == 0;
          const bool takes = variant != 4 && (line || p.c % (detail::kMmaNhwcWarps * channels) == 0);
          EXPECT_EQ(c.mma_nhwc, takes) << testbed::describe(p) << " channels " << channels;
          if (c.mma_nhwc) {
            EXPECT_EQ(c.vec_elems, channels);
            EXPECT_EQ(c.threads, 32 * (line ? detail::kMmaNhwcLineChannels / channels : detail::kMmaNhwcWarps));
            EXPECT_EQ(c.rows_per_thread % 16, 0);
            // Several blocks' shares, split inside a column.
            if (variant == 2)
              EXPECT_GT(detail::make_forward_params(p, c).tiles, c.rows_per_thread / 16) << testbed::describe(p);
            ++tiles;
          }
          if (table_nhwc_tensor_channels(k) > 0 && takes && p.c % 32 == 0)
            EXPECT_TRUE((detail::choose_kernel<T, DefaultPolicy>(p, &c, &c).mma_nhwc)) << testbed::describe(p);
          EXPECT_FALSE((detail::choose_kernel<T, DefaultTable<false>>(p, &c, &c).mma_nhwc)) << testbed::describe(p);
        }
    EXPECT_EQ(tiles, int(std::size(detail::kStaticKernelHeights)) * (4 + 2 + 3 * 2));
  }
}

TEST_F(ForwardGpu, ExplicitPolicy) {
  Problem p;
  p.n = 2;
  p.c = 5;
  p.h = 33;
  p.w = 19;
  p.k = 5;
  p.pad_top = p.pad_bottom = 2;
  std::mt19937_64 rng(3);
  std::vector<T> x(size_t(p.x_elements())), w(size_t(p.w_elements())), b(size_t(p.c));
  testbed::fill_random(x, rng, true, 3);
  testbed::fill_random(w, rng, true, 3);
  DeviceBuffer dx(x.size() * sizeof(T)), dw(w.size() * sizeof(T)), dy(size_t(p.y_elements()) * sizeof(T));
  DWCONV_CUDA_CHECK(cudaMemcpy(dx.as<T>(), x.data(), dx.bytes(), cudaMemcpyHostToDevice));
  DWCONV_CUDA_CHECK(cudaMemcpy(dw.as<T>(), w.data(), dw.bytes(), cudaMemcpyHostToDevice));
  DWCONV_CUDA_CHECK(cudaMemset(dy.as<T>(), 0xFF, dy.bytes()));
  const Status s = forward<T, TilePolicy<64, 3, 1>>(p, dx.as<T>(), dw.as<T>(), nullptr, dy.as<T>());
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<T> got(size_t(p.y_elements()));
  DWCONV_CUDA_CHECK(cudaMemcpy(got.data(), dy.as<T>(), dy.bytes(), cudaMemcpyDeviceToHost));
  EXPECT_EQ(testbed::compare<T>(p, x, w, b, false, got, true), "");
}

// A value of x that the host can recompute: small integers, exact in T.
__host__ __device__ inline int pattern(int64_t i) { return int((uint64_t(i) * 2654435761u >> 7) % 7) - 3; }

__global__ void fill_pattern(T* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    x[i] = Traits::from_accum(typename Traits::Accum(pattern(i)));
}

// Offsets past 2^31 elements: the last channel (NCHW) or last rows (NHWC)
// live beyond int32 range. Checked on sampled outputs near the end.
TEST_F(ForwardGpu, OffsetsBeyondInt32) {
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (int k : {3, 15}) {  // the register window; the rolling kernel
      Problem p;
      p.layout = layout;
      p.n = 1;
      p.c = 8;
      p.h = 32771;
      p.w = 8192;
      p.k = k;
      p.pad_top = p.pad_bottom = k / 2;
      ASSERT_GT(p.x_elements(), int64_t(1) << 31);
      size_t free_bytes = 0, total = 0;
      DWCONV_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
      const size_t need = size_t(p.x_elements() + p.y_elements()) * sizeof(T);
      if (need + (size_t(1) << 30) > free_bytes) GTEST_SKIP() << "needs " << need << " bytes of device memory";
      DeviceBuffer dx(size_t(p.x_elements()) * sizeof(T)), dy(size_t(p.y_elements()) * sizeof(T));
      fill_pattern<<<4096, 256>>>(dx.as<T>(), p.x_elements());
      DWCONV_CUDA_CHECK(cudaGetLastError());
      // Tap t of every channel weighs 1, 2 or -1 (t % 3).
      std::vector<T> w_host(size_t(p.w_elements()));
      for (size_t i = 0; i < w_host.size(); ++i)
        w_host[i] = Traits::from_double(i % k % 3 == 0 ? 1 : i % k % 3 == 1 ? 2 : -1);
      DeviceBuffer dw(w_host.size() * sizeof(T));
      DWCONV_CUDA_CHECK(cudaMemcpy(dw.as<T>(), w_host.data(), dw.bytes(), cudaMemcpyHostToDevice));
      DWCONV_CUDA_CHECK(cudaMemset(dy.as<T>(), 0xFF, dy.bytes()));
      const Status s = forward<T>(p, dx.as<T>(), dw.as<T>(), nullptr, dy.as<T>());
      ASSERT_TRUE(s.ok()) << s.message();
      DWCONV_CUDA_CHECK(cudaDeviceSynchronize());
      // Sample: the last 3 rows of the last channel at a few columns, and
      // random points in the upper half of the tensor.
      std::mt19937_64 rng(11);
      std::vector<std::tuple<int64_t, int64_t, int64_t>> points;  // (c, ho, wo)
      for (int64_t ho = p.h - 3; ho < p.h; ++ho)
        for (int64_t wo : {int64_t(0), int64_t(1), int64_t(4095), p.w - 1}) points.emplace_back(p.c - 1, ho, wo);
      for (int i = 0; i < 200; ++i)
        points.emplace_back(p.c / 2 + int64_t(rng() % (p.c / 2)), int64_t(rng() % p.h), int64_t(rng() % p.w));
      for (auto [c, ho, wo] : points) {
        double expect = 0;
        for (int t = 0; t < k; ++t) {
          const int64_t hi = ho - k / 2 + t;
          if (hi >= 0 && hi < p.h)
            expect += double(t % 3 == 0   ? 1
                             : t % 3 == 1 ? 2
                                          : -1) *
                      pattern(element_offset(layout, 0, c, hi, wo, p.c, p.h, p.w));
        }
        T got;
        const int64_t off = element_offset(layout, 0, c, ho, wo, p.c, p.out_h(), p.out_w());
        DWCONV_CUDA_CHECK(cudaMemcpy(&got, dy.as<T>() + off, sizeof(T), cudaMemcpyDeviceToHost));
        ASSERT_EQ(testbed::as_double(got), expect)
            << to_string(layout) << " K=" << k << " c=" << c << " ho=" << ho << " wo=" << wo << " offset=" << off;
      }
    }
}

// Two streams at once, each with its own problem: results land on the
// stream given, with no hidden synchronization needed.
TEST_F(ForwardGpu, ConcurrentStreams) {
  std::mt19937_64 rng(5);
  cudaStream_t s1, s2;
  DWCONV_CUDA_CHECK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
  DWCONV_CUDA_CHECK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  Problem p = testbed::random_problem(rng, Layout::NCHW);
  Problem q = testbed::random_problem(rng, Layout::NHWC);
  CaseOptions a, b;
  a.stream = s1;
  b.stream = s2;
  EXPECT_EQ(run_case(p, rng, a), "") << testbed::describe(p);
  EXPECT_EQ(run_case(q, rng, b), "") << testbed::describe(q);
  cudaStreamDestroy(s1);
  cudaStreamDestroy(s2);
}

}  // namespace
}  // namespace dwconv
