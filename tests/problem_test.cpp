// Host tests: output-size math and validation of every field.
#include <gtest/gtest.h>

#include <climits>
#include <dwconv/problem.hpp>
#include <string>

namespace dwconv {
namespace {

struct SizeCase {
  int64_t h;
  int k, stride, pad_top, pad_bottom, dilation;
  int64_t expected;  // floor((h + pt + pb - d*(k-1) - 1) / s) + 1, as PyTorch; 0 = empty
};

// Expected values from PyTorch's documented Conv2d output formula.
constexpr SizeCase kHeightCases[] = {
    {5, 3, 1, 0, 0, 1, 3},     {5, 3, 1, 1, 1, 1, 5},     {4, 3, 1, 0, 0, 1, 2},       {3, 3, 1, 0, 0, 1, 1},
    {2, 3, 1, 1, 1, 1, 2},     {7, 3, 2, 0, 0, 1, 3},     {7, 3, 2, 1, 1, 1, 4},       {8, 3, 2, 1, 1, 1, 4},
    {10, 3, 1, 2, 2, 2, 10},   {10, 5, 1, 0, 0, 2, 2},    {9, 3, 3, 0, 0, 3, 1},       {1, 1, 1, 0, 0, 1, 1},
    {1, 5, 1, 2, 2, 1, 1},     {1, 5, 1, 2, 2, 3, 0},     {56, 3, 1, 1, 1, 1, 56},     {512, 31, 1, 15, 15, 1, 512},
    {256, 5, 2, 2, 2, 1, 128}, {256, 3, 1, 2, 2, 2, 256}, {4096, 9, 1, 4, 4, 1, 4096}, {13, 4, 3, 0, 3, 1, 5},
    {13, 4, 3, 3, 0, 1, 5},    {6, 7, 4, 5, 1, 2, 0},     {100, 17, 5, 3, 8, 3, 13},   {3, 2, 7, 0, 0, 1, 1},
    {1, 63, 1, 31, 31, 1, 1},  {2, 32, 1, 15, 16, 1, 2},
};

Problem base() {
  Problem p;
  p.n = 2;
  p.c = 3;
  p.h = 10;
  p.w = 7;
  p.k = 3;
  return p;
}

TEST(ProblemSize, OutputHeightMatchesPyTorchFormula) {
  for (const SizeCase& s : kHeightCases) {
    Problem p = base();
    p.h = s.h;
    p.k = s.k;
    p.stride_h = s.stride;
    p.pad_top = s.pad_top;
    p.pad_bottom = s.pad_bottom;
    p.dilation_h = s.dilation;
    EXPECT_EQ(p.out_h(), s.expected) << "h=" << s.h << " k=" << s.k << " s=" << s.stride << " pads=" << s.pad_top << ","
                                     << s.pad_bottom << " d=" << s.dilation;
    EXPECT_EQ(validate(p).ok(), s.expected > 0) << validate(p).message();
  }
}

TEST(ProblemSize, OutputWidthUsesStrideAndPaddingOnly) {
  Problem p = base();
  p.w = 512;
  p.pad_left = p.pad_right = 1;
  EXPECT_EQ(p.out_w(), 514);
  p.stride_w = 2;
  EXPECT_EQ(p.out_w(), 257);
  p.pad_left = p.pad_right = 2;
  p.w = 256;
  EXPECT_EQ(p.out_w(), 130);
  p.w = 1;
  p.pad_left = p.pad_right = 0;
  p.stride_w = 5;
  EXPECT_EQ(p.out_w(), 1);
  p.w = 11;
  p.pad_left = 0;
  p.pad_right = 3;
  p.stride_w = 3;
  EXPECT_EQ(p.out_w(), 5);  // floor((11 + 3 - 1) / 3) + 1
}

TEST(ProblemSize, ElementCounts) {
  Problem p = base();
  p.pad_top = p.pad_bottom = 1;
  EXPECT_EQ(p.x_elements(), 2 * 3 * 10 * 7);
  EXPECT_EQ(p.y_elements(), 2 * 3 * 10 * 7);
  EXPECT_EQ(p.w_elements(), 9);
}

TEST(ProblemSize, ElementOffsetPerLayout) {
  // x[n=1, c=2, h=3, w=4] in a 5-channel, 6-row, 7-column tensor.
  EXPECT_EQ(element_offset(Layout::NCHW, 1, 2, 3, 4, 5, 6, 7), ((1 * 5 + 2) * 6 + 3) * 7 + 4);
  EXPECT_EQ(element_offset(Layout::NHWC, 1, 2, 3, 4, 5, 6, 7), ((1 * 6 + 3) * 7 + 4) * 5 + 2);
}

void expect_invalid(const Problem& p, StatusCode code, const std::string& needle) {
  const Status s = validate(p);
  EXPECT_EQ(s.code(), code) << s.message();
  EXPECT_NE(std::string(s.message()).find(needle), std::string::npos)
      << "message '" << s.message() << "' lacks '" << needle << "'";
}

TEST(ProblemValidate, AcceptsOrdinaryAndEmptyBatch) {
  Problem p = base();
  EXPECT_TRUE(validate(p).ok());
  p.n = 0;
  EXPECT_TRUE(validate(p).ok());
  EXPECT_EQ(p.y_elements(), 0);
}

TEST(ProblemValidate, AcceptsKernelTallerThanInputWhenPaddingMakesRoom) {
  Problem p = base();
  p.h = 2;
  p.k = 7;
  p.pad_top = 3;
  p.pad_bottom = 2;
  EXPECT_TRUE(validate(p).ok());
  EXPECT_EQ(p.out_h(), 1);
}

TEST(ProblemValidate, RejectsEachFieldWithItsNameAndValue) {
  Problem p = base();
  p.n = -1;
  expect_invalid(p, StatusCode::kInvalidProblem, "n must be >= 0, got -1");
  p = base();
  p.c = 0;
  expect_invalid(p, StatusCode::kInvalidProblem, "c must be >= 1, got 0");
  p = base();
  p.h = 0;
  expect_invalid(p, StatusCode::kInvalidProblem, "h must be >= 1, got 0");
  p = base();
  p.w = -5;
  expect_invalid(p, StatusCode::kInvalidProblem, "w must be >= 1, got -5");
  p = base();
  p.k = 0;
  expect_invalid(p, StatusCode::kInvalidProblem, "k must be >= 1, got 0");
  p = base();
  p.stride_h = 0;
  expect_invalid(p, StatusCode::kInvalidProblem, "stride_h must be >= 1, got 0");
  p = base();
  p.stride_w = -2;
  expect_invalid(p, StatusCode::kInvalidProblem, "stride_w must be >= 1, got -2");
  p = base();
  p.dilation_h = 0;
  expect_invalid(p, StatusCode::kInvalidProblem, "dilation_h must be >= 1, got 0");
  p = base();
  p.pad_top = -1;
  expect_invalid(p, StatusCode::kInvalidProblem, "pad_top must be >= 0, got -1");
  p = base();
  p.pad_bottom = -3;
  expect_invalid(p, StatusCode::kInvalidProblem, "pad_bottom must be >= 0, got -3");
  p = base();
  p.pad_left = -1;
  expect_invalid(p, StatusCode::kInvalidProblem, "pad_left must be >= 0, got -1");
  p = base();
  p.pad_right = -7;
  expect_invalid(p, StatusCode::kInvalidProblem, "pad_right must be >= 0, got -7");
  p = base();
  p.layout = static_cast<Layout>(3);
  expect_invalid(p, StatusCode::kUnsupported, "layout must be NCHW or NHWC, got 3");
}

TEST(ProblemValidate, RejectsEmptyOutput) {
  Problem p = base();
  p.h = 2;
  p.k = 3;
  expect_invalid(p, StatusCode::kInvalidProblem, "output height would be 0");
  p = base();
  p.k = 4;
  p.dilation_h = 4;  // extent 13 > 10
  expect_invalid(p, StatusCode::kInvalidProblem, "dilated kernel extent 13");
}

TEST(ProblemValidate, RejectsHugeDilationWithoutOverflow) {
  Problem p = base();
  p.k = INT_MAX;
  p.dilation_h = INT_MAX;
  expect_invalid(p, StatusCode::kInvalidProblem, "output height would be 0");
}

TEST(ProblemValidate, RejectsSizeProductsThatOverflow) {
  Problem p = base();
  p.n = int64_t(1) << 31;
  p.c = int64_t(1) << 31;
  p.h = int64_t(1) << 31;
  expect_invalid(p, StatusCode::kInvalidProblem, "n*c*h*w overflows int64");
  p = base();
  p.h = INT64_MAX;
  p.pad_top = 1;
  expect_invalid(p, StatusCode::kInvalidProblem, "h + pad_top + pad_bottom overflows int64");
  p = base();
  p.w = INT64_MAX - 1;
  p.pad_right = 5;
  expect_invalid(p, StatusCode::kInvalidProblem, "w + pad_left + pad_right overflows int64");
  p = base();
  p.n = 1;
  p.c = 1;
  p.h = 3;
  p.w = int64_t(1) << 60;  // 3 * 2^60 elements fit int64 but not 16 bytes each
  expect_invalid(p, StatusCode::kInvalidProblem, "too large to address");
  p = base();
  p.c = INT64_MAX / 2;
  p.n = 1;
  p.h = 1;
  p.w = 1;
  p.k = 3;
  p.pad_top = p.pad_bottom = 1;
  expect_invalid(p, StatusCode::kInvalidProblem, "overflows int64");
}

TEST(Status, CarriesCodeAndMessage) {
  const Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_STREQ(ok.message(), "");
  const Status bad = Status::error(StatusCode::kNullPointer, "%s must not be null", "x");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), StatusCode::kNullPointer);
  EXPECT_STREQ(bad.message(), "x must not be null");
  EXPECT_STREQ(to_string(StatusCode::kAliasing), "kAliasing");
  // A message longer than the buffer is cut, never overflowed.
  const std::string longer(500, 'a');
  const Status cut = Status::error(StatusCode::kUnsupported, "%s", longer.c_str());
  EXPECT_EQ(std::string(cut.message()).size(), size_t(Status::kMessageCapacity - 1));
}

}  // namespace
}  // namespace dwconv
