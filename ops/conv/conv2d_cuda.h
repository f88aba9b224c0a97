// Introspection of the cuDNN convolution backend (ops/conv/conv2d_cuda.cu). Only defined in
// builds with FF_WITH_CUDA; include it from code compiled under that macro.
//
// Every conv2d / conv2d_backward_input / conv2d_backward_weight call on CUDA looks up its
// algorithm in a process-wide cache keyed by (device, dtype, direction, N, C, H, W, C_out, kH, kW,
// stride, padding, dilation, groups, deterministic mode, TF32). A miss runs the selection once
// (cudnnFind*AlgorithmEx timing, or the heuristics in deterministic mode; see
// ops/common/gpu_math_config.h) and stores the algorithm, its math type and workspace size.
#pragma once

#include <cstdint>

namespace ff::cuda_conv {

struct AlgoCacheStats {
  int64_t hits = 0;     // lookups answered from the cache
  int64_t misses = 0;   // lookups that ran an algorithm search
  int64_t entries = 0;  // cached (shape, dtype, direction, mode) keys
};

AlgoCacheStats algo_cache_stats();
// Drops every cached choice and zeroes the counters.
void clear_algo_cache();

}  // namespace ff::cuda_conv
