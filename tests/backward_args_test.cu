// Argument checks of backward_input() and backward_weight(): every rejection
// happens before any GPU work and writes nothing, so these run on machines
// without a GPU. The "device" buffers are host arrays that a correct
// rejection never touches.
#include <gtest/gtest.h>

#include <dwconv/dwconv.cuh>
#include <string>
#include <vector>

#ifndef DWCONV_TEST_TYPE
#error "define DWCONV_TEST_TYPE to float, double, __half or __nv_bfloat16"
#endif

namespace dwconv {
namespace {

template <class T>
class BackwardArgs : public ::testing::Test {
 protected:
  using Traits = NumericTraits<T>;
  Problem p;
  std::vector<T> x, dy, w, out;  // out: dx, dw or dbias; also an aliasing target
  std::vector<float> ws;
  size_t ws_bytes = 0;
  BackwardArgs() {
    p.n = 2;
    p.c = 3;
    p.h = 8;
    p.w = 5;
    p.k = 3;
    x.resize(size_t(p.x_elements()), Traits::from_double(1.0));
    dy.resize(size_t(p.y_elements()), Traits::from_double(1.0));
    w.resize(size_t(p.w_elements()), Traits::from_double(1.0));
    out.resize(size_t(p.x_elements() * 2), Traits::from_double(-7.0));
    EXPECT_TRUE(backward_weight_workspace_size<T>(p, &ws_bytes).ok());
    ws.resize(ws_bytes / sizeof(float) + 1, -7.0f);
  }
  void expect_untouched() {
    for (const T& v : out) ASSERT_EQ(float(Traits::to_accum(v)), -7.0f) << "an output was written";
    for (float v : ws) ASSERT_EQ(v, -7.0f) << "the workspace was written";
  }
  void expect_code(const Status& s, StatusCode code, const std::string& needle) {
    EXPECT_EQ(s.code(), code) << s.message();
    EXPECT_NE(std::string(s.message()).find(needle), std::string::npos)
        << "message '" << s.message() << "' lacks '" << needle << "'";
  }
  void dx_rejected(const Problem& q, const T* dyp, const T* wp, T* dxp, StatusCode code, const std::string& needle) {
    expect_code(can_implement_backward_input<T>(q, dyp, wp, dxp), code, needle);
    expect_code(backward_input<T>(q, dyp, wp, dxp), code, needle);
    expect_untouched();
  }
  void dw_rejected(const Problem& q, const T* xp, const T* dyp, T* dwp, T* dbp, void* wsp, size_t bytes,
                   StatusCode code, const std::string& needle) {
    expect_code(can_implement_backward_weight<T>(q, xp, dyp, dwp, dbp, wsp, bytes), code, needle);
    expect_code(backward_weight<T>(q, xp, dyp, dwp, dbp, wsp, &bytes), code, needle);
    expect_untouched();
  }
};

// One element type per binary (DWCONV_TEST_TYPE) so that the types compile
// in parallel.
using Types = ::testing::Types<DWCONV_TEST_TYPE>;
TYPED_TEST_SUITE(BackwardArgs, Types);

TYPED_TEST(BackwardArgs, InputRejections) {
  auto& t = *this;
  Problem q = t.p;
  q.stride_w = 0;
  t.dx_rejected(q, t.dy.data(), t.w.data(), t.out.data(), StatusCode::kInvalidProblem, "stride_w must be >= 1, got 0");
  t.dx_rejected(t.p, nullptr, t.w.data(), t.out.data(), StatusCode::kNullPointer, "dy must not be null");
  t.dx_rejected(t.p, t.dy.data(), nullptr, t.out.data(), StatusCode::kNullPointer, "w must not be null");
  t.dx_rejected(t.p, t.dy.data(), t.w.data(), nullptr, StatusCode::kNullPointer, "dx must not be null");
  // dx overlapping dy, and w inside dx.
  t.dx_rejected(t.p, t.out.data() + 2, t.w.data(), t.out.data(), StatusCode::kAliasing, "overlaps dy");
  t.dx_rejected(t.p, t.dy.data(), t.out.data() + 5, t.out.data(), StatusCode::kAliasing, "overlaps w");
}

TYPED_TEST(BackwardArgs, WeightRejections) {
  auto& t = *this;
  using T = TypeParam;
  T* dw = t.out.data();
  T* db = t.out.data() + 64;
  void* ws = t.ws.data();
  Problem q = t.p;
  q.pad_top = -1;
  t.dw_rejected(q, t.x.data(), t.dy.data(), dw, db, ws, t.ws_bytes, StatusCode::kInvalidProblem, "pad_top");
  t.dw_rejected(t.p, nullptr, t.dy.data(), dw, db, ws, t.ws_bytes, StatusCode::kNullPointer, "x must not be null");
  t.dw_rejected(t.p, t.x.data(), nullptr, dw, db, ws, t.ws_bytes, StatusCode::kNullPointer, "dy must not be null");
  t.dw_rejected(t.p, t.x.data(), t.dy.data(), nullptr, db, ws, t.ws_bytes, StatusCode::kNullPointer,
                "dw must not be null");
  t.dw_rejected(t.p, t.x.data(), t.dy.data(), dw, db, ws, t.ws_bytes - 1, StatusCode::kInvalidProblem,
                "workspace_bytes must be >=");
  t.dw_rejected(t.p, t.x.data(), t.dy.data(), dw, dw + 1, ws, t.ws_bytes, StatusCode::kAliasing, "dbias");
  t.dw_rejected(t.p, t.out.data() + 2, t.dy.data(), dw, nullptr, ws, t.ws_bytes, StatusCode::kAliasing, "overlaps x");
  t.dw_rejected(t.p, t.x.data(), t.dy.data(), reinterpret_cast<T*>(t.ws.data()), nullptr, ws, t.ws_bytes,
                StatusCode::kAliasing, "overlaps workspace");
  // The size query needs somewhere to put the size.
  EXPECT_EQ(backward_weight<T>(t.p, t.x.data(), t.dy.data(), dw, db, ws, nullptr).code(), StatusCode::kNullPointer);
  t.expect_untouched();
}

TYPED_TEST(BackwardArgs, WorkspaceQuery) {
  auto& t = *this;
  using T = TypeParam;
  // A null workspace asks for the size and touches nothing else, whatever
  // the other pointers are.
  size_t bytes = 1;
  const Status s = backward_weight<T>(t.p, t.x.data(), t.dy.data(), t.out.data(), nullptr, nullptr, &bytes);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(bytes, t.ws_bytes);
  EXPECT_GE(bytes, 256u);
  t.expect_untouched();
  // The size depends on the problem only: larger problems need at least as much.
  Problem big = t.p;
  big.n = 64;
  big.h = 512;
  big.w = 512;
  size_t big_bytes = 0;
  ASSERT_TRUE(backward_weight_workspace_size<T>(big, &big_bytes).ok());
  EXPECT_GE(big_bytes, bytes);
  Problem bad = t.p;
  bad.k = 0;
  EXPECT_EQ(backward_weight_workspace_size<T>(bad, &bytes).code(), StatusCode::kInvalidProblem);
}

TYPED_TEST(BackwardArgs, EmptyBatchInputSucceedsWithoutLaunch) {
  auto& t = *this;
  Problem q = t.p;
  q.n = 0;
  EXPECT_TRUE(backward_input<TypeParam>(q, nullptr, t.w.data(), nullptr).ok());
  t.expect_untouched();
  EXPECT_EQ(backward_input<TypeParam>(q, nullptr, nullptr, nullptr).code(), StatusCode::kNullPointer);
}

}  // namespace
}  // namespace dwconv
