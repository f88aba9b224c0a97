// Gradient clipping by total norm (torch.nn.utils.clip_grad_norm_ semantics).
//
//   total = || (||g_1||_p, ||g_2||_p, ...) ||_p     over the defined grads of `params`
//         = max_i max_j |g_ij|                       for p = inf
//   coef  = min(max_norm / (total + 1e-6), 1)
//   every grad *= coef                               (skipped when coef == 1)
//
// The norms are accumulated in float64 whatever the gradient dtype (fused op foreach_norm,
// one call per (device, dtype)). Parameters without a gradient are skipped; with no gradient
// at all the total is 0. arcface_torch clips the backbone only: clip_grad_norm_(backbone, 5).
//
// A non-finite total (a NaN or inf gradient) is scaled by like PyTorch does (the grads become
// NaN), unless error_if_nonfinite, which throws naming the norm and the first parameter whose
// gradient norm is non-finite; the grads are then left unchanged.
#pragma once

#include <limits>
#include <vector>

#include "framework/core/tensor.h"

namespace ff::optim {

inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

// Returns the total norm (before clipping). norm_type > 0 or kInfNorm; max_norm >= 0.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// The total norm alone, without clipping.
double grad_total_norm(const std::vector<Tensor>& params, double norm_type = 2.0);

}  // namespace ff::optim
