// Batch normalisation over the channel dim (dim 1).
#pragma once

#include "framework/core/tensor.h"

namespace ff {

// x: [N, C] or [N, C, L] (BatchNorm1d) or [N, C, H, W] (BatchNorm2d).
// weight, bias: [C] or undefined (affine=false). running_mean, running_var: [C] or undefined.
// training: normalise with batch statistics (biased variance) and, when running stats are
//   defined, update them in place: r = (1 - momentum) r + momentum * batch_stat, with the
//   unbiased variance for running_var (PyTorch semantics).
// eval: normalise with running stats (which must be defined).
// Differentiable in x, weight and bias.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

}  // namespace ff
