// dwconv: the pointer checks every entry point makes before it launches.
#pragma once

#include <cstdint>

#include "dwconv/status.hpp"

namespace dwconv {
namespace detail {

inline bool ranges_overlap(const void* a, int64_t a_bytes, const void* b, int64_t b_bytes) {
  if (a == nullptr || b == nullptr || a_bytes == 0 || b_bytes == 0) return false;
  const uintptr_t a0 = reinterpret_cast<uintptr_t>(a), b0 = reinterpret_cast<uintptr_t>(b);
  return a0 < b0 + uintptr_t(b_bytes) && b0 < a0 + uintptr_t(a_bytes);
}

/// kNullPointer when a required pointer is null; kUnsupported when it is not
/// aligned to its element type.
template <class T>
Status check_pointer(const char* name, const T* ptr, bool required) {
  if (ptr == nullptr) {
    if (required) return Status::error(StatusCode::kNullPointer, "%s must not be null", name);
    return Status();
  }
  if (reinterpret_cast<uintptr_t>(ptr) % alignof(T) != 0)
    return Status::error(StatusCode::kUnsupported, "%s = %p is not aligned to its %d-byte element type", name,
                         static_cast<const void*>(ptr), int(alignof(T)));
  return Status();
}

/// kAliasing when the output range [out, out + out_bytes) overlaps an input's.
inline Status check_disjoint(const char* out_name, const void* out, int64_t out_bytes, const char* in_name,
                             const void* in, int64_t in_bytes) {
  if (ranges_overlap(out, out_bytes, in, in_bytes))
    return Status::error(StatusCode::kAliasing, "%s = %p (%lld bytes) overlaps %s = %p (%lld bytes)", out_name, out,
                         (long long)out_bytes, in_name, in, (long long)in_bytes);
  return Status();
}

}  // namespace detail
}  // namespace dwconv
