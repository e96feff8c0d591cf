// dwconv: aligned vector loads and stores of V elements, converted to and
// from the accumulator type.
#pragma once

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

/// Stores V accumulators, rounded to T, at `ptr` (aligned to V * sizeof(T)).
template <class T, int V, class A>
__device__ __forceinline__ void store_vector(T* ptr, const A (&in)[V]) {
  AlignedVector<T, V> v;
#pragma unroll
  for (int i = 0; i < V; ++i) v.e[i] = NumericTraits<T>::from_accum(in[i]);
  *reinterpret_cast<AlignedVector<T, V>*>(ptr) = v;
}

}  // namespace detail
}  // namespace dwconv
