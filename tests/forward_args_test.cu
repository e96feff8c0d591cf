// Argument checks of forward(): every rejection happens before any GPU work
// and writes nothing, so these run on machines without a GPU. The "device"
// buffers here are host arrays that a correct rejection never touches.
#include <gtest/gtest.h>

#include <dwconv/dwconv.cuh>
#include <string>
#include <type_traits>
#include <vector>

#ifndef DWCONV_TEST_TYPE
#error "define DWCONV_TEST_TYPE to float, double, __half or __nv_bfloat16"
#endif

namespace dwconv {
namespace {

template <class T>
class ForwardArgs : public ::testing::Test {
 protected:
  Problem p;
  std::vector<T> x, w, b, y;
  ForwardArgs() {
    p.n = 2;
    p.c = 3;
    p.h = 8;
    p.w = 5;
    p.k = 3;
    x.resize(size_t(p.x_elements()), NumericTraits<T>::from_double(1.0));
    w.resize(size_t(p.w_elements()), NumericTraits<T>::from_double(1.0));
    b.resize(size_t(p.c), NumericTraits<T>::from_double(1.0));
    y.resize(size_t(p.x_elements() * 2), NumericTraits<T>::from_double(-7.0));
  }
  // Calls forward and checks the code, a fragment of the message, and that
  // nothing in y changed.
  void expect_rejected(const Problem& q, const T* xp, const T* wp, const T* bp, T* yp, StatusCode code,
                       const std::string& needle) {
    const Status pre = can_implement<T>(q, xp, wp, bp, yp);
    const Status s = forward<T>(q, xp, wp, bp, yp);
    EXPECT_EQ(s.code(), code) << s.message();
    EXPECT_EQ(pre.code(), code) << pre.message();
    EXPECT_NE(std::string(s.message()).find(needle), std::string::npos)
        << "message '" << s.message() << "' lacks '" << needle << "'";
    for (const T& v : y) ASSERT_EQ(NumericTraits<T>::to_accum(v), -7.0f) << "forward wrote despite rejecting";
  }
};

// One element type per binary (DWCONV_TEST_TYPE) so that the types compile
// in parallel.
using Types = ::testing::Types<DWCONV_TEST_TYPE>;
TYPED_TEST_SUITE(ForwardArgs, Types);

TYPED_TEST(ForwardArgs, InvalidProblemFields) {
  auto& t = *this;
  Problem q = t.p;
  q.k = 0;
  t.expect_rejected(q, t.x.data(), t.w.data(), nullptr, t.y.data(), StatusCode::kInvalidProblem,
                    "k must be >= 1, got 0");
  q = t.p;
  q.stride_h = 0;
  t.expect_rejected(q, t.x.data(), t.w.data(), nullptr, t.y.data(), StatusCode::kInvalidProblem, "stride_h");
  q = t.p;
  q.dilation_h = -1;
  t.expect_rejected(q, t.x.data(), t.w.data(), nullptr, t.y.data(), StatusCode::kInvalidProblem, "dilation_h");
  q = t.p;
  q.pad_left = -1;
  t.expect_rejected(q, t.x.data(), t.w.data(), nullptr, t.y.data(), StatusCode::kInvalidProblem, "pad_left");
  q = t.p;
  q.c = 0;
  t.expect_rejected(q, t.x.data(), t.w.data(), nullptr, t.y.data(), StatusCode::kInvalidProblem, "c must be >= 1");
  q = t.p;
  q.n = -2;
  t.expect_rejected(q, t.x.data(), t.w.data(), nullptr, t.y.data(), StatusCode::kInvalidProblem, "got -2");
  q = t.p;
  q.h = 1;  // K = 3 without padding: no output row
  t.expect_rejected(q, t.x.data(), t.w.data(), nullptr, t.y.data(), StatusCode::kInvalidProblem, "output height");
  q = t.p;
  q.n = int64_t(1) << 40;
  q.c = int64_t(1) << 40;
  t.expect_rejected(q, t.x.data(), t.w.data(), nullptr, t.y.data(), StatusCode::kInvalidProblem, "overflows int64");
  q = t.p;
  q.layout = static_cast<Layout>(9);
  t.expect_rejected(q, t.x.data(), t.w.data(), nullptr, t.y.data(), StatusCode::kUnsupported, "got 9");
}

TYPED_TEST(ForwardArgs, NullPointers) {
  auto& t = *this;
  t.expect_rejected(t.p, nullptr, t.w.data(), nullptr, t.y.data(), StatusCode::kNullPointer, "x must not be null");
  t.expect_rejected(t.p, t.x.data(), nullptr, nullptr, t.y.data(), StatusCode::kNullPointer, "w must not be null");
  t.expect_rejected(t.p, t.x.data(), t.w.data(), t.b.data(), nullptr, StatusCode::kNullPointer, "y must not be null");
}

TYPED_TEST(ForwardArgs, Aliasing) {
  auto& t = *this;
  // y inside x, y over w, y over bias: each overlap is named.
  Problem q = t.p;
  t.expect_rejected(q, t.y.data(), t.w.data(), nullptr, t.y.data() + 3, StatusCode::kAliasing, "overlaps x");
  t.expect_rejected(q, t.x.data(), t.y.data() + 1, nullptr, t.y.data(), StatusCode::kAliasing, "overlaps w");
  t.expect_rejected(q, t.x.data(), t.w.data(), t.y.data() + q.y_elements() - 1, t.y.data(), StatusCode::kAliasing,
                    "overlaps bias");
}

TYPED_TEST(ForwardArgs, MisalignedPointer) {
  auto& t = *this;
  if (sizeof(TypeParam) == 1) GTEST_SKIP();
  const TypeParam* odd = reinterpret_cast<const TypeParam*>(reinterpret_cast<const char*>(t.x.data()) + 1);
  t.expect_rejected(t.p, odd, t.w.data(), nullptr, t.y.data(), StatusCode::kUnsupported, "x = ");
}

TYPED_TEST(ForwardArgs, EmptyBatchSucceedsWithoutLaunch) {
  auto& t = *this;
  Problem q = t.p;
  q.n = 0;
  // x and y may be null for an empty batch; with a GPU or without, nothing runs.
  EXPECT_TRUE(forward<TypeParam>(q, nullptr, t.w.data(), nullptr, nullptr).ok());
  const Status s = forward<TypeParam>(q, t.x.data(), t.w.data(), t.b.data(), t.y.data());
  EXPECT_TRUE(s.ok()) << s.message();
  for (const TypeParam& v : t.y) ASSERT_EQ(NumericTraits<TypeParam>::to_accum(v), -7.0f);
  // w is still required: a caller's bug, even with nothing to compute.
  EXPECT_EQ(forward<TypeParam>(q, nullptr, nullptr, nullptr, nullptr).code(), StatusCode::kNullPointer);
}

// One explicit policy is enough: it compiles a whole kernel set, so only
// the float binary builds it.
TYPED_TEST(ForwardArgs, ExplicitPolicyIsAccepted) {
  if constexpr (std::is_same_v<TypeParam, float>) {
    Problem q;
    q.n = 0;
    q.c = 4;
    q.h = 9;
    q.w = 9;
    q.k = 3;
    const float w[12] = {};
    const Status s = forward<float, TilePolicy<64, 4, 4>>(q, nullptr, w, nullptr, nullptr);
    EXPECT_TRUE(s.ok()) << s.message();
  } else {
    GTEST_SKIP() << "runs in forward_args_test_float";
  }
}

}  // namespace
}  // namespace dwconv
