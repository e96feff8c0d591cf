// dwconv: depthwise (K x 1) convolution for CUDA. Umbrella header.
#pragma once

#include "dwconv/backward.cuh"
#include "dwconv/forward.cuh"
#include "dwconv/numeric.cuh"
#include "dwconv/policy.cuh"
#include "dwconv/problem.hpp"
#include "dwconv/reference.hpp"
#include "dwconv/status.hpp"
#include "dwconv/version.hpp"
