// Backward benchmarks in bfloat16 (backward_bench_impl.cuh); one translation unit
// per (direction, type) so that they compile in parallel.
#include "backward_bench_impl.cuh"

void dwconv::bench::register_backward_bfloat16() { register_backward<__nv_bfloat16>("bfloat16"); }
