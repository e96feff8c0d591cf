// Forward benchmarks in bfloat16 (forward_bench_impl.cuh); one translation unit
// per (direction, type) so that they compile in parallel.
#include "forward_bench_impl.cuh"

void dwconv::bench::register_forward_bfloat16() { register_type<__nv_bfloat16>("bfloat16"); }
