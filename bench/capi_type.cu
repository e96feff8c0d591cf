// The C ABI's per-type calls (capi_calls.hpp) for DWCONV_CAPI_TYPE.
#include <dwconv/dwconv.cuh>

#include "capi_calls.hpp"

#ifndef DWCONV_CAPI_TYPE
#error "define DWCONV_CAPI_TYPE to float, double, __half or __nv_bfloat16"
#endif

namespace dwconv {
namespace capi {

template <class T>
Status forward(const Problem& p, const void* x, const void* w, const void* bias, void* y, cudaStream_t stream) {
  return dwconv::forward<T>(p, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
                            static_cast<T*>(y), stream);
}

template <class T>
Status backward_input(const Problem& p, const void* dy, const void* w, void* dx, cudaStream_t stream) {
  return dwconv::backward_input<T>(p, static_cast<const T*>(dy), static_cast<const T*>(w), static_cast<T*>(dx), stream);
}

template <class T>
Status backward_weight(const Problem& p, const void* x, const void* dy, void* dw, void* dbias, void* workspace,
                       size_t* workspace_bytes, cudaStream_t stream) {
  return dwconv::backward_weight<T>(p, static_cast<const T*>(x), static_cast<const T*>(dy), static_cast<T*>(dw),
                                    static_cast<T*>(dbias), workspace, workspace_bytes, stream);
}

template Status forward<DWCONV_CAPI_TYPE>(const Problem&, const void*, const void*, const void*, void*, cudaStream_t);
template Status backward_input<DWCONV_CAPI_TYPE>(const Problem&, const void*, const void*, void*, cudaStream_t);
template Status backward_weight<DWCONV_CAPI_TYPE>(const Problem&, const void*, const void*, void*, void*, void*,
                                                  size_t*, cudaStream_t);

}  // namespace capi
}  // namespace dwconv
