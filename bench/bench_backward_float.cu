// Backward benchmarks in float (backward_bench_impl.cuh); one translation unit
// per (direction, type) so that they compile in parallel.
#include "backward_bench_impl.cuh"

void dwconv::bench::register_backward_float() { register_backward<float>("float"); }
