// Forward benchmarks in half (forward_bench_impl.cuh); one translation unit
// per (direction, type) so that they compile in parallel.
#include "forward_bench_impl.cuh"

void dwconv::bench::register_forward_half() { register_type<__half>("half"); }
