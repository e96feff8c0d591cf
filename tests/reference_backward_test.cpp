// Host tests: the backward references against hand-computed values, the
// adjoint identities <forward(x), dy> = <x, dx> and = <w, dw> (exact on
// integer-valued doubles), and central finite differences of forward.
#include <gtest/gtest.h>

#include <cmath>
#include <dwconv/reference.hpp>
#include <random>
#include <vector>

#include "testbed.hpp"

namespace dwconv {
namespace {

TEST(ReferenceBackward, InputGradientByHand) {
  // y[0] = x0*w0 + x1*w1 + x2*w2, y[1] = x1*w0 + x2*w1 + x3*w2.
  const Problem p = testbed::column_problem(4, 3);
  const std::vector<double> w = {1, 10, 100}, dy = {1, 2};
  std::vector<double> dx(4, -1);
  reference::backward_input<double>(p, dy.data(), w.data(), dx.data());
  EXPECT_EQ(dx, (std::vector<double>{1, 10 + 2, 100 + 20, 200}));
}

TEST(ReferenceBackward, WeightAndBiasGradientByHand) {
  Problem p = testbed::column_problem(4, 3);
  p.pad_top = p.pad_bottom = 1;  // y rows read x rows -1..4
  const std::vector<double> x = {1, 2, 3, 4}, dy = {1, 1, 1, 1};
  std::vector<double> dw(3, -1), db(1, -1);
  reference::backward_weight<double>(p, x.data(), dy.data(), dw.data(), db.data());
  // tap 0 reads rows -1, 0, 1, 2; tap 1 rows 0..3; tap 2 rows 1..4.
  EXPECT_EQ(dw, (std::vector<double>{1 + 2 + 3, 1 + 2 + 3 + 4, 2 + 3 + 4}));
  EXPECT_EQ(db, (std::vector<double>{4}));
}

TEST(ReferenceBackward, StrideLeavesUnreadInputsAtZero) {
  Problem p = testbed::column_problem(5, 1);
  p.stride_h = 2;  // outputs read rows 0, 2, 4
  const std::vector<double> w = {3}, dy = {1, 2, 3};
  std::vector<double> dx(5, -1);
  reference::backward_input<double>(p, dy.data(), w.data(), dx.data());
  EXPECT_EQ(dx, (std::vector<double>{3, 0, 6, 0, 9}));
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Random problems, both layouts: the gradients are the adjoints of forward.
TEST(ReferenceBackward, AdjointIdentitiesOnRandomProblems) {
  const uint64_t seed = testbed::test_seed();
  std::printf("[ seed ] DWCONV_TEST_SEED=%llu\n", (unsigned long long)seed);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 200; ++i) {
    const Problem p = testbed::random_problem(rng, i % 2 ? Layout::NHWC : Layout::NCHW);
    std::vector<double> x(size_t(p.x_elements())), w(size_t(p.w_elements())), b(size_t(p.c)),
        dy(size_t(p.y_elements()));
    testbed::fill_random(x, rng, true, 4);
    testbed::fill_random(w, rng, true, 4);
    testbed::fill_random(b, rng, true, 4);
    testbed::fill_random(dy, rng, true, 4);
    std::vector<double> y(dy.size()), y0(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
    reference::forward<double>(p, x.data(), w.data(), b.data(), y.data());
    reference::forward<double>(p, x.data(), w.data(), nullptr, y0.data());
    reference::backward_input<double>(p, dy.data(), w.data(), dx.data());
    reference::backward_weight<double>(p, x.data(), dy.data(), dw.data(), db.data());
    // y is linear in x, in w and in bias: <y0, dy> = <x, dx> = <w, dw>, and
    // <y - y0, dy> = <bias, dbias>. Integers keep every sum exact.
    const double lhs = dot(y0, dy);
    ASSERT_EQ(lhs, dot(x, dx)) << testbed::describe(p);
    ASSERT_EQ(lhs, dot(w, dw)) << testbed::describe(p);
    std::vector<double> yb(y.size());
    for (size_t j = 0; j < y.size(); ++j) yb[j] = y[j] - y0[j];
    ASSERT_EQ(dot(yb, dy), dot(b, db)) << testbed::describe(p);
  }
}

// Central differences of L(x, w, b) = <forward(x, w, b), dy> in double.
TEST(ReferenceBackward, FiniteDifferences) {
  std::mt19937_64 rng(99);
  for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
    Problem p;
    p.layout = layout;
    p.n = 2;
    p.c = 3;
    p.h = 9;
    p.w = 5;
    p.k = 4;
    p.stride_h = 2;
    p.stride_w = 2;
    p.dilation_h = 2;
    p.pad_top = 3;
    p.pad_bottom = 1;
    p.pad_left = 1;
    std::vector<double> x(size_t(p.x_elements())), w(size_t(p.w_elements())), b(size_t(p.c)),
        dy(size_t(p.y_elements()));
    testbed::fill_random(x, rng, false, 0);
    testbed::fill_random(w, rng, false, 0);
    testbed::fill_random(b, rng, false, 0);
    testbed::fill_random(dy, rng, false, 0);
    auto loss = [&]() {
      std::vector<double> y(dy.size());
      reference::forward<double>(p, x.data(), w.data(), b.data(), y.data());
      return dot(y, dy);
    };
    std::vector<double> dx(x.size()), dw(w.size()), db(b.size());
    reference::backward_input<double>(p, dy.data(), w.data(), dx.data());
    reference::backward_weight<double>(p, x.data(), dy.data(), dw.data(), db.data());
    const double eps = 1e-4;
    auto check = [&](std::vector<double>& v, const std::vector<double>& grad, const char* name) {
      for (size_t i = 0; i < v.size(); ++i) {
        const double keep = v[i];
        v[i] = keep + eps;
        const double up = loss();
        v[i] = keep - eps;
        const double down = loss();
        v[i] = keep;
        EXPECT_NEAR((up - down) / (2 * eps), grad[i], 1e-8) << name << "[" << i << "] " << testbed::describe(p);
      }
    };
    check(x, dx, "dx");
    check(w, dw, "dw");
    check(b, db, "dbias");
  }
}

}  // namespace
}  // namespace dwconv
