// dwconv benchmarks: facts measured once per run and shared by every
// benchmark in the binary.
#pragma once

#include <string>

namespace dwconv {
namespace bench {

struct Context {
  double copy_bandwidth = 0;  // bytes/s, read + write, 1 GiB device-to-device copy
  int l2_bytes = 0;
};

inline Context& context() {
  static Context c;
  return c;
}

void register_forward_float();
void register_backward_float();
void register_forward_half();
void register_backward_half();
void register_forward_bfloat16();
void register_backward_bfloat16();
void register_memory_probes();

}  // namespace bench
}  // namespace dwconv
