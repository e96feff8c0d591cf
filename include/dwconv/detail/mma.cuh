// dwconv: the tensor-core instructions the NCHW tiles use, for the 2-byte
// element types: ldmatrix (shared memory -> B fragments) and mma.sync
// m16n8k16 with float accumulation (sm_80 and newer; callers keep a CUDA-core
// path for older targets).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace dwconv {
namespace detail {

/// The 16 bits of a 2-byte element.
template <class T>
__device__ __forceinline__ uint32_t bits16(T v) {
  static_assert(sizeof(T) == 2, "tensor-core fragments hold 2-byte elements");
  unsigned short u;
  __builtin_memcpy(&u, &v, 2);
  return u;
}

/// Two elements in one fragment register: `lo` in the low half (the lower
/// column or row index of the pair).
template <class T>
__device__ __forceinline__ uint32_t pack_pair(T lo, T hi) {
  return bits16(lo) | (bits16(hi) << 16);
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800

/// Four 8x8 matrices of 2-byte elements from shared memory, transposed: lane
/// l gives the address of row (l % 8) of matrix l / 8 (16 aligned bytes), and
/// receives in b[m] the elements (2 (l % 4), l / 4) and (2 (l % 4) + 1, l / 4)
/// of matrix m: for a k-major B tile, the B fragment of mma m16n8k16.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&b)[4], uint32_t shared_addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
               : "r"(shared_addr)
               : "memory");
}

/// Four 8x8 matrices of 2-byte elements from shared memory: lane l gives the
/// address of row (l % 8) of matrix l / 8 (16 aligned bytes), and receives
/// in d[m] the elements (l / 4, 2 (l % 4)) and (l / 4, 2 (l % 4) + 1) of
/// matrix m: for an n-major B tile (rows n, columns k), the B fragment of
/// mma m16n8k16.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&d)[4], uint32_t shared_addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
               : "r"(shared_addr)
               : "memory");
}

/// Two 8x8 matrices as ldmatrix_x4 gives four: lanes 0-15 give the
/// addresses, d[m] receives matrix m.
__device__ __forceinline__ void ldmatrix_x2(uint32_t (&d)[2], uint32_t shared_addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(d[0]), "=r"(d[1])
               : "r"(shared_addr)
               : "memory");
}

/// c += A (16 x 16, row-major fragment a) * B (16 x 8, column fragment b0, b1),
/// products of T summed in float.
template <class T>
__device__ __forceinline__ void mma_16x8x16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                            uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    static_assert(std::is_same_v<T, __nv_bfloat16>, "mma_16x8x16 takes __half or __nv_bfloat16");
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

#endif

}  // namespace detail
}  // namespace dwconv
