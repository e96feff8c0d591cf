// Host tests: the reference against hand-computed tiny problems.
#include <gtest/gtest.h>

#include <dwconv/reference.hpp>
#include <vector>

#include "testbed.hpp"

namespace dwconv {
namespace {

std::vector<float> run(const Problem& p, const std::vector<float>& x, const std::vector<float>& w,
                       const std::vector<float>* bias = nullptr) {
  std::vector<float> y(size_t(p.y_elements()), -999.f);
  reference::forward<float>(p, x.data(), w.data(), bias ? bias->data() : nullptr, y.data());
  return y;
}

const std::vector<float> kX = {1, 2, 3, 4};
const std::vector<float> kW = {1, 10, 100};

TEST(Reference, ValidCorrelationNoFlip) {
  // y[i] = x[i]*1 + x[i+1]*10 + x[i+2]*100: cross-correlation, as PyTorch.
  EXPECT_EQ(run(testbed::column_problem(4, 3), kX, kW), (std::vector<float>{321, 432}));
}

TEST(Reference, ZeroPaddingTopAndBottom) {
  Problem p = testbed::column_problem(4, 3);
  p.pad_top = p.pad_bottom = 1;
  EXPECT_EQ(run(p, kX, kW), (std::vector<float>{210, 321, 432, 43}));
}

TEST(Reference, StrideAndDilation) {
  Problem p = testbed::column_problem(4, 3);
  p.pad_top = p.pad_bottom = 2;
  p.stride_h = 2;
  p.dilation_h = 2;
  // Ho = (4 + 4 - 4 - 1) / 2 + 1 = 2; y[0] taps rows -2, 0, 2; y[1] rows 0, 2, 4.
  EXPECT_EQ(run(p, kX, kW), (std::vector<float>{0 + 10 * 1 + 100 * 3, 1 * 1 + 10 * 3 + 0}));
}

TEST(Reference, KernelTallerThanInput) {
  Problem p = testbed::column_problem(2, 5);
  p.pad_top = 2;
  p.pad_bottom = 1;
  // padded rows: 0 0 x0 x1 0 -> one output, taps w2*x0 + w3*x1
  EXPECT_EQ(run(p, {5, 7}, {1, 2, 3, 4, 5}), (std::vector<float>{3 * 5 + 4 * 7}));
}

TEST(Reference, BiasAndWidthPaddingAndStride) {
  // Two rows of three columns, K = 1: a per-channel scale, then columns
  // padded (left 1, right 1) and strided by 2: output columns read input
  // columns -1, 1, 3 -> bias only at the padded ones.
  Problem p;
  p.n = 1;
  p.c = 1;
  p.h = 2;
  p.w = 3;
  p.k = 1;
  p.pad_left = p.pad_right = 1;
  p.stride_w = 2;
  const std::vector<float> bias = {0.5f};
  EXPECT_EQ(p.out_w(), 3);
  EXPECT_EQ(run(p, {1, 2, 3, 4, 5, 6}, {2}, &bias), (std::vector<float>{0.5f, 4.5f, 0.5f, 0.5f, 10.5f, 0.5f}));
}

TEST(Reference, ChannelsUseTheirOwnWeightsInBothLayouts) {
  // Two channels, H = 3, W = 1, K = 2: channel 0 weights {1, 1}, channel 1 {1, -1}.
  Problem p;
  p.n = 1;
  p.c = 2;
  p.h = 3;
  p.w = 1;
  p.k = 2;
  const std::vector<float> w = {1, 1, 1, -1};
  const std::vector<float> nchw_x = {1, 2, 4, 10, 20, 40};  // c0: 1 2 4; c1: 10 20 40
  EXPECT_EQ(run(p, nchw_x, w), (std::vector<float>{3, 6, -10, -20}));
  p.layout = Layout::NHWC;
  const std::vector<float> nhwc_x = {1, 10, 2, 20, 4, 40};
  EXPECT_EQ(run(p, nhwc_x, w), (std::vector<float>{3, -10, 6, -20}));
}

TEST(Reference, EmptyBatchWritesNothing) {
  Problem p = testbed::column_problem(4, 3);
  p.n = 0;
  float y = -1.f;
  reference::forward<float>(p, nullptr, kW.data(), nullptr, &y);
  EXPECT_EQ(y, -1.f);
}

TEST(Reference, HalfTypesRoundOnce) {
  Problem p = testbed::column_problem(3, 3);
  // 1 + 2^-11 + 2^-11 is 1 + 2^-10 exactly, representable in half, though a
  // half accumulator would round each partial sum back to 1.
  const __half x[3] = {__float2half(1.f), __float2half(1.f / 2048), __float2half(1.f / 2048)};
  const __half w[3] = {__float2half(1.f), __float2half(1.f), __float2half(1.f)};
  __half y;
  reference::forward<__half>(p, x, w, nullptr, &y);
  EXPECT_EQ(__half2float(y), 1.f + 1.f / 1024);
  const __nv_bfloat16 bx[3] = {__float2bfloat16(3.f), __float2bfloat16(-1.f), __float2bfloat16(0.5f)};
  const __nv_bfloat16 bw[3] = {__float2bfloat16(2.f), __float2bfloat16(2.f), __float2bfloat16(4.f)};
  __nv_bfloat16 by;
  reference::forward<__nv_bfloat16>(p, bx, bw, nullptr, &by);
  EXPECT_EQ(__bfloat162float(by), 6.f);
}

}  // namespace
}  // namespace dwconv
