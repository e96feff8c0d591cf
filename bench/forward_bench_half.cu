// Forward benchmarks in half (see forward_bench_impl.cuh).
#include "forward_bench_impl.cuh"

void dwconv::bench::register_half() { register_type<__half>("half"); }
