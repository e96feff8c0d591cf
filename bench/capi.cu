// A C ABI over dwconv::forward for the PyTorch comparison (ctypes): one
// entry point, dtype as a code. Returns the StatusCode; the message goes to
// `message` (capacity bytes) when given.
#include <cstdio>
#include <dwconv/dwconv.cuh>

namespace {

template <class T>
int call(const dwconv::Problem& p, const void* x, const void* w, const void* b, void* y, cudaStream_t s, char* msg,
         int cap) {
  const dwconv::Status st = dwconv::forward<T>(p, static_cast<const T*>(x), static_cast<const T*>(w),
                                               static_cast<const T*>(b), static_cast<T*>(y), s);
  if (msg && cap > 0) std::snprintf(msg, size_t(cap), "%s", st.message());
  return int(st.code());
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int dwconv_forward(
    int dtype, int layout, long long n, long long c, long long h, long long w, int k, int stride_h, int stride_w,
    int dilation_h, int pad_top, int pad_bottom, int pad_left, int pad_right, const void* x, const void* weight,
    const void* bias, void* y, void* stream, char* message, int capacity) {
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
  const auto s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case 0: return call<float>(p, x, weight, bias, y, s, message, capacity);
    case 1: return call<__half>(p, x, weight, bias, y, s, message, capacity);
    case 2: return call<__nv_bfloat16>(p, x, weight, bias, y, s, message, capacity);
    case 3: return call<double>(p, x, weight, bias, y, s, message, capacity);
    default:
      if (message && capacity > 0) std::snprintf(message, size_t(capacity), "dtype code must be 0..3, got %d", dtype);
      return int(dwconv::StatusCode::kUnsupported);
  }
}
