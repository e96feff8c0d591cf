// dwconv: aligned vector loads and stores of V elements, converted to and
// from the accumulator type.
#pragma once

#include <cstdint>

#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

template <class T, int V>
struct alignas(sizeof(T) * V) AlignedVector {
  T e[V];
};

/// Loads V elements at `ptr` (aligned to V * sizeof(T)) as accumulators.
template <class T, int V, class A>
__device__ __forceinline__ void load_vector(const T* ptr, A (&out)[V]) {
  const AlignedVector<T, V> v = *reinterpret_cast<const AlignedVector<T, V>*>(ptr);
#pragma unroll
  for (int i = 0; i < V; ++i) out[i] = NumericTraits<T>::to_accum(v.e[i]);
}

/// V accumulators rounded to T, as one vector.
template <class T, int V, class A>
__device__ __forceinline__ AlignedVector<T, V> to_vector(const A (&in)[V]) {
  AlignedVector<T, V> v;
#pragma unroll
  for (int i = 0; i < V; ++i) v.e[i] = NumericTraits<T>::from_accum(in[i]);
  return v;
}

/// Stores V accumulators, rounded to T, at `ptr` (aligned to V * sizeof(T)).
template <class T, int V, class A>
__device__ __forceinline__ void store_vector(T* ptr, const A (&in)[V]) {
  *reinterpret_cast<AlignedVector<T, V>*>(ptr) = to_vector<T, V>(in);
}

}  // namespace detail
}  // namespace dwconv

namespace dwconv {
namespace detail {

/// Phase of `ptr` within a V-element vector: (address / sizeof(T)) % V.
template <class T, int V>
__device__ __forceinline__ int vector_phase(const T* ptr) {
  return int((reinterpret_cast<uintptr_t>(ptr) / sizeof(T)) % V);
}

// One global -> shared copy of kBytes (4, 8 or 16, aligned to kBytes) that
// does not hold the thread while in flight (cp.async, sm_80 and newer), so a
// thread can have its whole share of a tile outstanding at once.
template <int kBytes>
__device__ __forceinline__ void copy_async(void* shared, const void* global) {
  static_assert(kBytes == 4 || kBytes == 8 || kBytes == 16, "cp.async copies 4, 8 or 16 bytes");
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  if constexpr (kBytes == 16)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(global) : "memory");
  else
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2;\n" ::"r"(s), "l"(global), "n"(kBytes) : "memory");
#else
  struct alignas(kBytes) Chunk {
    unsigned char b[kBytes];
  };
  *reinterpret_cast<Chunk*>(shared) = *reinterpret_cast<const Chunk*>(global);
#endif
}

/// Waits for this thread's copy_async calls; a __syncthreads() must follow
/// before other threads read the data.
__device__ __forceinline__ void copy_async_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
}

/// Closes this thread's copy_async calls since the last commit into one
/// group, which copy_async_wait_groups can wait for.
__device__ __forceinline__ void copy_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

/// Waits until at most `kPending` of this thread's committed groups (the
/// newest) are still in flight; a __syncthreads() must follow before other
/// threads read the data.
template <int kPending>
__device__ __forceinline__ void copy_async_wait_groups() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
#endif
}

/// One element of global memory, read so that the load issues here, ahead
/// of a __syncthreads() that follows: a coherent load in volatile asm.
/// Read-only loads (`const T* __restrict__`) are free to sink past a
/// barrier, and did: a staged tile's weights, meant to load while its band
/// is in flight, were loaded after the band's barrier, their conversions
/// drawing 18-22 % of the warps' stall samples in 2-byte 56x56 (ncu source
/// counters on the H100, `2026-11-26-h100-f17-sass.txt`); an empty asm
/// holding the loaded value did not keep them (it emits no instruction).
template <class T>
__device__ __forceinline__ T load_before_barrier(const T* ptr) {
#if defined(__CUDA_ARCH__)
  T v;
  if constexpr (sizeof(T) == 2) {
    unsigned short u;
    asm volatile("ld.global.ca.b16 %0, [%1];" : "=h"(u) : "l"(ptr));
    __builtin_memcpy(&v, &u, 2);
  } else if constexpr (sizeof(T) == 4) {
    unsigned u;
    asm volatile("ld.global.ca.b32 %0, [%1];" : "=r"(u) : "l"(ptr));
    __builtin_memcpy(&v, &u, 4);
  } else {
    static_assert(sizeof(T) == 8, "elements of 2, 4 or 8 bytes");
    unsigned long long u;
    asm volatile("ld.global.ca.b64 %0, [%1];" : "=l"(u) : "l"(ptr));
    __builtin_memcpy(&v, &u, 8);
  }
  return v;
#else
  return *ptr;
#endif
}

/// Byte address of element `offset` of `base`, as an integer: a walk's
/// running address may pass outside the tensor where it reads nothing.
template <class T>
DWCONV_HD_INLINE uintptr_t element_address(const T* base, int64_t offset) {
  return reinterpret_cast<uintptr_t>(base) + uintptr_t(offset * int64_t(sizeof(T)));
}

/// Raw global accesses at integer byte addresses, for walks whose running
/// address passes outside the tensor where nothing is read or written (a
/// pointer there would be out of its object). `Vec` is 2, 4, 8 or 16 bytes,
/// aligned to its size.
/// load_global_if: the vector at `addr` where `pred`, else zeros, as one
/// predicated load: no valid address needed for the others and no select
/// at use (the forward rolling kernel's checked steps: fp32 K = 31 spent 28
/// instructions a step on checks and addresses against 31 multiply-adds,
/// `2026-11-26-h100-f18-sass.txt`). x is read-only while a kernel runs: .nc.
template <class Vec>
__device__ __forceinline__ Vec load_global_if(uintptr_t addr, bool pred) {
  Vec v;
#if defined(__CUDA_ARCH__)
  constexpr int kBytes = sizeof(Vec);
  const int on = pred;
  if constexpr (kBytes == 2) {
    unsigned short u;
    asm("{\n .reg .pred p;\n setp.ne.b32 p, %2, 0;\n mov.b16 %0, 0;\n @p ld.global.nc.b16 %0, [%1];\n}"
        : "=h"(u)
        : "l"(addr), "r"(on));
    __builtin_memcpy(&v, &u, 2);
  } else if constexpr (kBytes == 4) {
    unsigned u;
    asm("{\n .reg .pred p;\n setp.ne.b32 p, %2, 0;\n mov.b32 %0, 0;\n @p ld.global.nc.b32 %0, [%1];\n}"
        : "=r"(u)
        : "l"(addr), "r"(on));
    __builtin_memcpy(&v, &u, 4);
  } else if constexpr (kBytes == 8) {
    uint2 u;
    asm("{\n .reg .pred p;\n setp.ne.b32 p, %3, 0;\n mov.b32 %0, 0;\n mov.b32 %1, 0;\n"
        " @p ld.global.nc.v2.b32 {%0, %1}, [%2];\n}"
        : "=r"(u.x), "=r"(u.y)
        : "l"(addr), "r"(on));
    __builtin_memcpy(&v, &u, 8);
  } else {
    static_assert(kBytes == 16, "vectors of 2, 4, 8 or 16 bytes");
    uint4 u;
    asm("{\n .reg .pred p;\n setp.ne.b32 p, %5, 0;\n mov.b32 %0, 0;\n mov.b32 %1, 0;\n mov.b32 %2, 0;\n"
        " mov.b32 %3, 0;\n @p ld.global.nc.v4.b32 {%0, %1, %2, %3}, [%4];\n}"
        : "=r"(u.x), "=r"(u.y), "=r"(u.z), "=r"(u.w)
        : "l"(addr), "r"(on));
    __builtin_memcpy(&v, &u, 16);
  }
#else
  (void)addr;
  (void)pred;
  v = Vec{};
#endif
  return v;
}

/// Stores `v` at global byte address `addr` (see load_global_if).
template <class Vec>
__device__ __forceinline__ void store_global(uintptr_t addr, const Vec& v) {
#if defined(__CUDA_ARCH__)
  constexpr int kBytes = sizeof(Vec);
  if constexpr (kBytes == 2) {
    unsigned short u;
    __builtin_memcpy(&u, &v, 2);
    asm volatile("st.global.b16 [%0], %1;" ::"l"(addr), "h"(u) : "memory");
  } else if constexpr (kBytes == 4) {
    unsigned u;
    __builtin_memcpy(&u, &v, 4);
    asm volatile("st.global.b32 [%0], %1;" ::"l"(addr), "r"(u) : "memory");
  } else if constexpr (kBytes == 8) {
    uint2 u;
    __builtin_memcpy(&u, &v, 8);
    asm volatile("st.global.v2.b32 [%0], {%1, %2};" ::"l"(addr), "r"(u.x), "r"(u.y) : "memory");
  } else {
    static_assert(kBytes == 16, "vectors of 2, 4, 8 or 16 bytes");
    uint4 u;
    __builtin_memcpy(&u, &v, 16);
    asm volatile("st.global.v4.b32 [%0], {%1, %2, %3, %4};" ::"l"(addr), "r"(u.x), "r"(u.y), "r"(u.z), "r"(u.w)
                 : "memory");
  }
#else
  (void)addr;
  (void)v;
#endif
}

/// Block-wide copy of `len` contiguous elements between global and shared
/// memory, 16-byte vectors for the body and single elements for the
/// unaligned head and tail. Shared element i sits at index phase + i, where
/// phase = vector_phase(global), so both sides of each vector are aligned
/// (shared memory is 16-byte aligned). kToShared picks the direction; the
/// global -> shared body is asynchronous: call copy_async_wait_all() and
/// __syncthreads() before reading it.
template <bool kToShared, class T, int V>
__device__ __forceinline__ void block_copy(T* global, T* shared, int len, int phase) {
  int head = (V - phase) % V;
  if (head > len) head = len;
  const int vectors = (len - head) / V;
  const int tail = head + vectors * V;
  using Vec = AlignedVector<T, V>;
  Vec* gv = reinterpret_cast<Vec*>(global + head);
  Vec* sv = reinterpret_cast<Vec*>(shared + phase + head);
#pragma unroll 4
  for (int i = threadIdx.x; i < vectors; i += blockDim.x) {
    if constexpr (kToShared)
      copy_async<int(sizeof(Vec))>(sv + i, gv + i);
    else
      gv[i] = sv[i];
  }
  // The unaligned head and tail after the body. Into shared memory, 2-byte
  // elements go as 4-byte cp.async pairs where the pair starts at an even
  // phase (both sides then 4-byte aligned), so that only a lone element at
  // an odd start or end holds its thread: a synchronous edge load a 16-row
  // slot cost the contiguous band ring 5-15 points (f32), pairs gave K31
  // dx +3-4 (f33). The synchronous ones come after the body, whose copies
  // they would otherwise hold back.
  for (int i = threadIdx.x; i < head + (len - tail); i += blockDim.x) {
    const int e = i < head ? i : tail + (i - head);
    if constexpr (kToShared && sizeof(T) == 2) {
      const int seg_begin = i < head ? 0 : tail, seg_end = i < head ? head : len;
      if (((phase + e) & 1) == 0) {
        if (e + 1 < seg_end) {
          copy_async<4>(shared + phase + e, global + e);
          continue;
        }
      } else if (e > seg_begin) {
        continue;  // the second of the pair before it
      }
    }
    if constexpr (kToShared)
      shared[phase + e] = global[e];
    else
      global[e] = shared[phase + e];
  }
}

}  // namespace detail
}  // namespace dwconv
