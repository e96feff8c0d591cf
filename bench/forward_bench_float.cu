// Forward benchmarks in float (see forward_bench_impl.cuh).
#include "forward_bench_impl.cuh"

void dwconv::bench::register_float() { register_type<float>("float"); }
