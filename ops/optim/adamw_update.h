// adamw_update: the fused AdamW parameter update (Loshchilov & Hutter, decoupled weight
// decay; PyTorch torch.optim.AdamW semantics), applied in place to a list of parameters that
// share one device and dtype.
//
// For parameter i at its step t = steps[i] (already counted, so t >= 1), per element,
// computing in acc_t<param dtype> (float for float16/bfloat16):
//   g     = maximize ? -grad : grad
//   p     = p * (1 - lr * weight_decay)                  (decoupled decay, before the step)
//   m     = m + (1 - beta1) * (g - m)                    (= beta1 * m + (1 - beta1) * g)
//   v     = beta2 * v + (1 - beta2) * g * g
//   vmax  = max(vmax, v)                                 (amsgrad only; denominators use vmax)
//   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//   p     = p - (lr / (1 - beta1^t)) * m / denom
//
// Shapes: every list entry i has params[i]'s shape. Grads have the parameter dtype; the
// moments have optimizer_state_dtype(param dtype). Any strides are accepted.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/core/tensor.h"
#include "ops/optim/optim_common.h"

namespace ff {

struct AdamWUpdateHyper {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;
};

struct AdamWUpdateLists {
  std::vector<Tensor> params;          // updated in place
  std::vector<Tensor> grads;           // read only
  std::vector<Tensor> exp_avgs;        // m, updated in place (zeros before the first step)
  std::vector<Tensor> exp_avg_sqs;     // v, updated in place (zeros before the first step)
  std::vector<Tensor> max_exp_avg_sqs; // vmax, amsgrad only (empty otherwise)
  std::vector<int64_t> steps;          // per parameter, >= 1, for the bias corrections
};

// Validates the lists and hyper-parameters, then runs the kernel for the parameters'
// (device, dtype). Not recorded by autograd; bumps the version of every tensor it writes.
void adamw_update_(const AdamWUpdateLists& lists, const AdamWUpdateHyper& hyper);

using AdamWUpdateKernel = void (*)(const AdamWUpdateLists& lists, const AdamWUpdateHyper& hyper);

}  // namespace ff
