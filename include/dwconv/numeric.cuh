// dwconv: dtype traits, the one place that knows how each element type is
// stored, converted and accumulated. Usable from host code (the reference)
// and device code.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#if defined(__CUDACC__)
#define DWCONV_HD_INLINE __host__ __device__ __forceinline__
#else
#define DWCONV_HD_INLINE inline
#endif

namespace dwconv {

/// Traits of a supported element type. `Accum` is the type sums are formed
/// in; `kVecElems` is how many elements fill one 16-byte access.
template <class T>
struct NumericTraits;  // undefined: the type is not supported

template <>
struct NumericTraits<float> {
  using Accum = float;
  static constexpr const char* kName = "float";
  DWCONV_HD_INLINE static float to_accum(float v) { return v; }
  DWCONV_HD_INLINE static float from_accum(float v) { return v; }
  DWCONV_HD_INLINE static float from_double(double v) { return float(v); }
};

template <>
struct NumericTraits<double> {
  using Accum = double;
  static constexpr const char* kName = "double";
  DWCONV_HD_INLINE static double to_accum(double v) { return v; }
  DWCONV_HD_INLINE static double from_accum(double v) { return v; }
  DWCONV_HD_INLINE static double from_double(double v) { return v; }
};

template <>
struct NumericTraits<__half> {
  using Accum = float;
  static constexpr const char* kName = "half";
  DWCONV_HD_INLINE static float to_accum(__half v) { return __half2float(v); }
  DWCONV_HD_INLINE static __half from_accum(float v) { return __float2half_rn(v); }
  DWCONV_HD_INLINE static __half from_double(double v) { return __double2half(v); }
};

template <>
struct NumericTraits<__nv_bfloat16> {
  using Accum = float;
  static constexpr const char* kName = "bfloat16";
  DWCONV_HD_INLINE static float to_accum(__nv_bfloat16 v) { return __bfloat162float(v); }
  DWCONV_HD_INLINE static __nv_bfloat16 from_accum(float v) { return __float2bfloat16_rn(v); }
  DWCONV_HD_INLINE static __nv_bfloat16 from_double(double v) { return __double2bfloat16(v); }
};

/// True for the four element types dwconv is built for.
template <class T>
inline constexpr bool is_supported_type_v = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                                            std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

/// Elements in one 16-byte vector access.
template <class T>
inline constexpr int kVecElems16 = int(16 / sizeof(T));

}  // namespace dwconv
