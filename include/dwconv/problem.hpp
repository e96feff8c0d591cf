// dwconv: the problem description and its size math. Host and device; needs
// no CUDA headers.
#pragma once

#include <cstdint>

#include "dwconv/status.hpp"

#if defined(__CUDACC__)
#define DWCONV_HOST_DEVICE __host__ __device__
#else
#define DWCONV_HOST_DEVICE
#endif

namespace dwconv {

/// Memory order of x and y. Weights are always [C, K], bias [C].
enum class Layout : int { NCHW = 0, NHWC = 1 };

inline const char* to_string(Layout layout) noexcept {
  switch (layout) {
    case Layout::NCHW: return "NCHW";
    case Layout::NHWC: return "NHWC";
  }
  return "unknown Layout";
}

/// One depthwise (K x 1) convolution, as torch.nn.Conv2d(C, C, (K, 1),
/// groups=C, stride=(stride_h, stride_w), padding, dilation=(dilation_h, 1)).
/// Sizes are element counts; padding is zero padding in input elements.
struct Problem {
  int64_t n = 0, c = 0, h = 0, w = 0;
  int k = 0;  ///< kernel height (taps along H)
  int stride_h = 1, stride_w = 1, dilation_h = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  Layout layout = Layout::NCHW;

  /// Output height; 0 when the padded input is shorter than the dilated
  /// kernel. Meaningful for problems that pass validate().
  DWCONV_HOST_DEVICE int64_t out_h() const {
    const int64_t span = h + pad_top + pad_bottom - int64_t(dilation_h) * (k - 1) - 1;
    return span < 0 ? 0 : span / stride_h + 1;
  }
  /// Output width (the kernel is one column wide).
  DWCONV_HOST_DEVICE int64_t out_w() const {
    const int64_t span = w + pad_left + pad_right - 1;
    return span < 0 ? 0 : span / stride_w + 1;
  }
  DWCONV_HOST_DEVICE int64_t x_elements() const { return n * c * h * w; }
  DWCONV_HOST_DEVICE int64_t y_elements() const { return n * c * out_h() * out_w(); }
  DWCONV_HOST_DEVICE int64_t w_elements() const { return c * k; }
};

/// Offset in elements of x[n, c, h, w] (or y with the output sizes) for a
/// tensor of c channels, h rows and w columns in `layout`.
DWCONV_HOST_DEVICE inline int64_t element_offset(Layout layout, int64_t n, int64_t c, int64_t h, int64_t w,
                                                 int64_t channels, int64_t rows, int64_t cols) {
  return layout == Layout::NCHW ? ((n * channels + c) * rows + h) * cols + w
                                : ((n * rows + h) * cols + w) * channels + c;
}

namespace detail {

// a * b and a + b for non-negative operands; false when the result passes
// INT64_MAX.
inline bool mul_fits(int64_t a, int64_t b, int64_t* out) {
  if (a != 0 && b > INT64_MAX / a) return false;
  *out = a * b;
  return true;
}
inline bool add_fits(int64_t a, int64_t b, int64_t* out) {
  if (b > INT64_MAX - a) return false;
  *out = a + b;
  return true;
}

}  // namespace detail

/// Checks every field of `p` and returns kInvalidProblem (or kUnsupported for
/// an unknown layout) naming the first field out of range. n == 0 is valid.
inline Status validate(const Problem& p) {
  using detail::add_fits;
  using detail::mul_fits;
  if (p.n < 0) return Status::error(StatusCode::kInvalidProblem, "n must be >= 0, got %lld", (long long)p.n);
  if (p.c < 1) return Status::error(StatusCode::kInvalidProblem, "c must be >= 1, got %lld", (long long)p.c);
  if (p.h < 1) return Status::error(StatusCode::kInvalidProblem, "h must be >= 1, got %lld", (long long)p.h);
  if (p.w < 1) return Status::error(StatusCode::kInvalidProblem, "w must be >= 1, got %lld", (long long)p.w);
  if (p.k < 1) return Status::error(StatusCode::kInvalidProblem, "k must be >= 1, got %d", p.k);
  if (p.stride_h < 1) return Status::error(StatusCode::kInvalidProblem, "stride_h must be >= 1, got %d", p.stride_h);
  if (p.stride_w < 1) return Status::error(StatusCode::kInvalidProblem, "stride_w must be >= 1, got %d", p.stride_w);
  if (p.dilation_h < 1)
    return Status::error(StatusCode::kInvalidProblem, "dilation_h must be >= 1, got %d", p.dilation_h);
  if (p.pad_top < 0) return Status::error(StatusCode::kInvalidProblem, "pad_top must be >= 0, got %d", p.pad_top);
  if (p.pad_bottom < 0)
    return Status::error(StatusCode::kInvalidProblem, "pad_bottom must be >= 0, got %d", p.pad_bottom);
  if (p.pad_left < 0) return Status::error(StatusCode::kInvalidProblem, "pad_left must be >= 0, got %d", p.pad_left);
  if (p.pad_right < 0) return Status::error(StatusCode::kInvalidProblem, "pad_right must be >= 0, got %d", p.pad_right);
  if (p.layout != Layout::NCHW && p.layout != Layout::NHWC)
    return Status::error(StatusCode::kUnsupported, "layout must be NCHW or NHWC, got %d", int(p.layout));

  // Padded extents and the dilated kernel must be representable before the
  // output size is formed from them.
  int64_t padded_h = 0, padded_w = 0, tmp = 0;
  if (!add_fits(p.h, int64_t(p.pad_top) + p.pad_bottom, &padded_h))
    return Status::error(StatusCode::kInvalidProblem, "h + pad_top + pad_bottom overflows int64 (h = %lld)",
                         (long long)p.h);
  if (!add_fits(p.w, int64_t(p.pad_left) + p.pad_right, &padded_w))
    return Status::error(StatusCode::kInvalidProblem, "w + pad_left + pad_right overflows int64 (w = %lld)",
                         (long long)p.w);
  const int64_t kernel_extent = int64_t(p.dilation_h) * (p.k - 1) + 1;
  if (kernel_extent > padded_h)
    return Status::error(StatusCode::kInvalidProblem,
                         "output height would be 0: dilated kernel extent %lld (dilation_h %d * (k %d - 1) + 1) "
                         "exceeds padded height %lld",
                         (long long)kernel_extent, p.dilation_h, p.k, (long long)padded_h);

  const int64_t ho = p.out_h(), wo = p.out_w();
  if (!mul_fits(p.n, p.c, &tmp) || !mul_fits(tmp, p.h, &tmp) || !mul_fits(tmp, p.w, &tmp))
    return Status::error(StatusCode::kInvalidProblem, "n*c*h*w overflows int64 (n %lld, c %lld, h %lld, w %lld)",
                         (long long)p.n, (long long)p.c, (long long)p.h, (long long)p.w);
  if (!mul_fits(p.n, p.c, &tmp) || !mul_fits(tmp, ho, &tmp) || !mul_fits(tmp, wo, &tmp))
    return Status::error(StatusCode::kInvalidProblem,
                         "n*c*out_h*out_w overflows int64 (n %lld, c %lld, out_h %lld, out_w %lld)", (long long)p.n,
                         (long long)p.c, (long long)ho, (long long)wo);
  if (!mul_fits(p.c, p.k, &tmp))
    return Status::error(StatusCode::kInvalidProblem, "c*k overflows int64 (c %lld, k %d)", (long long)p.c, p.k);
  // Kernels form element offsets in bytes too: keep 16 bytes per element of
  // headroom so that no pointer arithmetic can wrap.
  const int64_t largest = (p.x_elements() > p.y_elements() ? p.x_elements() : p.y_elements());
  if (largest > INT64_MAX / 16)
    return Status::error(StatusCode::kInvalidProblem, "tensor of %lld elements is too large to address",
                         (long long)largest);
  return Status();
}

}  // namespace dwconv
