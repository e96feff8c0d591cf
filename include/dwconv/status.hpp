// dwconv: result type of every entry point.
#pragma once

#include <cstdarg>
#include <cstdio>

namespace dwconv {

/// Every way a call can fail. Values are stable: they may be logged or
/// compared across versions.
enum class StatusCode : int {
  kSuccess = 0,
  kInvalidProblem = 1,  ///< a size, stride, dilation or padding out of range, or an empty output
  kNullPointer = 2,     ///< a required pointer is null
  kAliasing = 3,        ///< the output overlaps an input
  kUnsupported = 4,     ///< a layout, alignment or policy this build does not handle
  kCudaError = 5,       ///< the CUDA runtime reported an error at launch
};

/// Short, stable name of a code, e.g. "kInvalidProblem".
inline const char* to_string(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kSuccess: return "kSuccess";
    case StatusCode::kInvalidProblem: return "kInvalidProblem";
    case StatusCode::kNullPointer: return "kNullPointer";
    case StatusCode::kAliasing: return "kAliasing";
    case StatusCode::kUnsupported: return "kUnsupported";
    case StatusCode::kCudaError: return "kCudaError";
  }
  return "unknown StatusCode";
}

/// Outcome of a call: a code and a message a user can act on. The message
/// lives inside the object (no allocation), so a Status is cheap to return
/// and never throws.
class [[nodiscard]] Status {
 public:
  static constexpr int kMessageCapacity = 192;

  Status() noexcept = default;

  /// An error with a printf-style message.
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  static Status
  error(StatusCode code, const char* format, ...) noexcept {
    Status s;
    s.code_ = code;
    va_list args;
    va_start(args, format);
    std::vsnprintf(s.message_, kMessageCapacity, format, args);
    va_end(args);
    return s;
  }

  bool ok() const noexcept { return code_ == StatusCode::kSuccess; }
  StatusCode code() const noexcept { return code_; }
  /// Empty for success; otherwise says which argument was wrong and its value.
  const char* message() const noexcept { return message_; }
  explicit operator bool() const noexcept { return ok(); }

 private:
  StatusCode code_ = StatusCode::kSuccess;
  char message_[kMessageCapacity] = {};
};

}  // namespace dwconv
