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
// momentum must lie in [0, 1] and eps be >= 0; training needs more than one value per channel
// (N * spatial > 1). Parameters and buffers may be any floating dtype and layout; they are
// used in the stat dtype below, and running stats are written back into their own tensors.
// Differentiable in x, weight and bias (first order: the backward is not itself recorded).
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

// Statistics dtype for an input dtype: float64 for float64 inputs, float32 otherwise (16-bit
// inputs keep their per-channel statistics and parameters in float32, as cuDNN does).
DType batch_norm_stat_dtype(DType x_dtype);

// Kernels (op names "batch_norm" and "batch_norm_backward"), keyed by x's dtype.
// x, out, grad_*: contiguous [N, C, S...]; every [C] tensor is contiguous in the stat dtype.
// weight/bias may be undefined (treated as 1/0). training: batch statistics are computed,
// written to save_mean/save_invstd (invstd = 1 / sqrt(biased_var + eps)) and folded into the
// running stats when those are defined. eval: save_mean/save_invstd receive the running
// mean and 1 / sqrt(running_var + eps), which the backward kernel then treats as constants.
using BatchNormKernel = void (*)(const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd,
                                 const Tensor& x, const Tensor& weight, const Tensor& bias,
                                 const Tensor& running_mean, const Tensor& running_var, bool training,
                                 double momentum, double eps);
// Writes whichever of grad_x [N, C, S...], grad_weight [C], grad_bias [C] are defined.
using BatchNormBackwardKernel = void (*)(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                                         const Tensor& grad_out, const Tensor& x, const Tensor& weight,
                                         const Tensor& save_mean, const Tensor& save_invstd, bool training);

}  // namespace ff
