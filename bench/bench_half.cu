// Forward and backward benchmarks in half (see forward_bench_impl.cuh and
// backward_bench_impl.cuh); one translation unit per type so they compile in
// parallel.
#include "backward_bench_impl.cuh"
#include "forward_bench_impl.cuh"

void dwconv::bench::register_half() {
  register_type<__half>("half");
  register_backward<__half>("half");
}
