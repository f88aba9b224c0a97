// The whole-training-step benchmark of apps/bench (`--only train`): one arcface_torch train_v2.py
// step per iteration, timed per network and precision, printed as a markdown table.
//
// One step (single process, world size 1):
//   images [batch, 3, 112, 112] float32 -> backbone (body in the precision, BN and head float32)
//   -> embeddings [batch, 512] -> PartialFC (num_classes centres, sample rate 1, ArcFace s = 64,
//   m = 0.5, logits float32) -> loss -> (fp16: GradScaler) backward -> unscale ->
//   clip_grad_norm_(backbone, 5) -> SGD (lr 0.1, momentum 0.9, weight decay 5e-4) on the backbone
//   and SparseRowSGD on the centres -> GradScaler update -> zero_grad.
// Inputs and labels are made once on the device (no data loading is timed).
//
// Columns: ms/step is the median over --iters timed steps (CUDA events on the compute stream,
// or a steady clock on the CPU) after --warmup untimed ones; images/s = batch / median; wall
// ms/step is the whole timed loop (device synchronised at both ends) divided by --iters; TFLOP/s
// counts 3 x 2 x the forward MACs per image (models::measure_complexity); peak allocated and
// peak reserved come from the CUDA caching allocator, reset after the warm-up (n/a on the CPU,
// whose allocator keeps no statistics). scripts/bench_torch_step.py prints the same columns for
// PyTorch; scripts/gpu_check.sh reads both tables by column position, so keep them in step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/core/device.h"

namespace ff::bench {

struct TrainStepOptions {
  Device device;                                    // cpu or cuda[:i]
  std::vector<std::string> networks = {"r100", "mbf"};
  std::vector<std::string> precisions = {"fp32", "fp16", "bf16"};
  int64_t batch = 128;
  int64_t classes = 93431;  // MS1MV3's identity count, the whole FC on one device
  int warmup = 3;
  int iters = 10;
};

// "fp32", "fp16", "bf16" (throws ff::Error naming the accepted names otherwise).
void check_precision_name(const std::string& name);

// Prints the table; a configuration that throws gets a row with its error and the others still
// run. Returns the number of configurations that failed. Throws ff::Error before printing
// anything when the device cannot be used (no CUDA device, or a CPU-only build).
int run_train_step_bench(const TrainStepOptions& options);

}  // namespace ff::bench
