// dwconv's entry points for one element type, as the C ABI (capi.cu) calls
// them: pointers untyped. Defined in capi_type.cu, which is compiled once
// per type so that the types build in parallel.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <dwconv/problem.hpp>
#include <dwconv/status.hpp>

namespace dwconv {
namespace capi {

template <class T>
Status forward(const Problem& p, const void* x, const void* w, const void* bias, void* y, cudaStream_t stream);

template <class T>
Status backward_input(const Problem& p, const void* dy, const void* w, void* dx, cudaStream_t stream);

template <class T>
Status backward_weight(const Problem& p, const void* x, const void* dy, void* dw, void* dbias, void* workspace,
                       size_t* workspace_bytes, cudaStream_t stream);

}  // namespace capi
}  // namespace dwconv
