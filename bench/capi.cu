// A C ABI over dwconv's entry points for the PyTorch comparison (ctypes):
// dtype as a code (0 float, 1 half, 2 bfloat16, 3 double), the problem as
// plain integers. Each returns the StatusCode; the message goes to `message`
// (capacity bytes) when given.
#include <cstdio>
#include <dwconv/numeric.cuh>

#include "capi_calls.hpp"

namespace {

dwconv::Problem make_problem(int layout, long long n, long long c, long long h, long long w, int k, int stride_h,
                             int stride_w, int dilation_h, int pad_top, int pad_bottom, int pad_left, int pad_right) {
  dwconv::Problem p;
  p.n = n;
  p.c = c;
  p.h = h;
  p.w = w;
  p.k = k;
  p.stride_h = stride_h;
  p.stride_w = stride_w;
  p.dilation_h = dilation_h;
  p.pad_top = pad_top;
  p.pad_bottom = pad_bottom;
  p.pad_left = pad_left;
  p.pad_right = pad_right;
  p.layout = static_cast<dwconv::Layout>(layout);
  return p;
}

int report(const dwconv::Status& st, char* msg, int cap) {
  if (msg && cap > 0) std::snprintf(msg, size_t(cap), "%s", st.message());
  return int(st.code());
}

// Calls f(T{}) for the dtype code's element type.
template <class F>
int with_dtype(int dtype, char* msg, int cap, F&& f) {
  switch (dtype) {
    case 0: return report(f(float{}), msg, cap);
    case 1: return report(f(__half{}), msg, cap);
    case 2: return report(f(__nv_bfloat16{}), msg, cap);
    case 3: return report(f(double{}), msg, cap);
    default:
      if (msg && cap > 0) std::snprintf(msg, size_t(cap), "dtype code must be 0..3, got %d", dtype);
      return int(dwconv::StatusCode::kUnsupported);
  }
}

}  // namespace

#define DWCONV_CAPI extern "C" __attribute__((visibility("default")))
#define DWCONV_PROBLEM_ARGS                                                                                     \
  int dtype, int layout, long long n, long long c, long long h, long long w, int k, int stride_h, int stride_w, \
      int dilation_h, int pad_top, int pad_bottom, int pad_left, int pad_right
#define DWCONV_PROBLEM \
  make_problem(layout, n, c, h, w, k, stride_h, stride_w, dilation_h, pad_top, pad_bottom, pad_left, pad_right)

DWCONV_CAPI int dwconv_forward(DWCONV_PROBLEM_ARGS, const void* x, const void* weight, const void* bias, void* y,
                               void* stream, char* message, int capacity) {
  const dwconv::Problem p = DWCONV_PROBLEM;
  return with_dtype(dtype, message, capacity, [&](auto t) {
    return dwconv::capi::forward<decltype(t)>(p, x, weight, bias, y, static_cast<cudaStream_t>(stream));
  });
}

DWCONV_CAPI int dwconv_backward_input(DWCONV_PROBLEM_ARGS, const void* dy, const void* weight, void* dx, void* stream,
                                      char* message, int capacity) {
  const dwconv::Problem p = DWCONV_PROBLEM;
  return with_dtype(dtype, message, capacity, [&](auto t) {
    return dwconv::capi::backward_input<decltype(t)>(p, dy, weight, dx, static_cast<cudaStream_t>(stream));
  });
}

// workspace null: *workspace_bytes receives the size.
DWCONV_CAPI int dwconv_backward_weight(DWCONV_PROBLEM_ARGS, const void* x, const void* dy, void* dw, void* dbias,
                                       void* workspace, unsigned long long* workspace_bytes, void* stream,
                                       char* message, int capacity) {
  const dwconv::Problem p = DWCONV_PROBLEM;
  return with_dtype(dtype, message, capacity, [&](auto t) {
    size_t bytes = workspace_bytes ? size_t(*workspace_bytes) : 0;
    const dwconv::Status s = dwconv::capi::backward_weight<decltype(t)>(
        p, x, dy, dw, dbias, workspace, workspace_bytes ? &bytes : nullptr, static_cast<cudaStream_t>(stream));
    if (workspace_bytes) *workspace_bytes = bytes;
    return s;
  });
}
