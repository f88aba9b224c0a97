// The kernel tables of apps/bench on any device (`--only gpu`, default device cuda): matrix
// products, every distinct conv layer of r100 and mbf (forward, forward+backward) and the margin
// head, in each precision, timed with DeviceTimer (CUDA events on a GPU). Numbers are the median
// of --iters timed runs after --warmup untimed ones; FLOPs are 2MNK for a GEMM and the conv
// formula of docs/benchmarks.md (backward = one forward-sized product per gradient).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/core/device.h"

namespace ff::bench {

struct KernelBenchOptions {
  Device device;
  std::vector<std::string> precisions = {"fp32", "fp16", "bf16"};
  int64_t batch = 128;      // conv input batch and margin rows
  int64_t classes = 93431;  // margin columns
  int warmup = 2;
  int iters = 10;
};

// Prints the tables. Throws ff::Error before printing them when the device cannot be used.
void run_kernel_bench(const KernelBenchOptions& options);

}  // namespace ff::bench
