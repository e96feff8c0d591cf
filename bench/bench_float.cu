// Forward and backward benchmarks in float (see forward_bench_impl.cuh and
// backward_bench_impl.cuh); one translation unit per type so they compile in
// parallel.
#include "backward_bench_impl.cuh"
#include "forward_bench_impl.cuh"

void dwconv::bench::register_float() {
  register_type<float>("float");
  register_backward<float>("float");
}
