// Forward and backward benchmarks in bfloat16 (see forward_bench_impl.cuh and
// backward_bench_impl.cuh); one translation unit per type so they compile in
// parallel.
#include "backward_bench_impl.cuh"
#include "forward_bench_impl.cuh"

void dwconv::bench::register_bfloat16() {
  register_type<__nv_bfloat16>("bfloat16");
  register_backward<__nv_bfloat16>("bfloat16");
}
