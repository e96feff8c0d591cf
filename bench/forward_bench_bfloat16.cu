// Forward benchmarks in bfloat16 (see forward_bench_impl.cuh).
#include "forward_bench_impl.cuh"

void dwconv::bench::register_bfloat16() { register_type<__nv_bfloat16>("bfloat16"); }
