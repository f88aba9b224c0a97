// Helpers for the graph tests: small models, BN statistics that make folding non-trivial,
// and error measures.
#pragma once

#include <algorithm>
#include <cmath>

#include "framework/core/tensor.h"
#include "framework/nn/layers/batch_norm.h"
#include "framework/nn/module.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/random.h"

namespace ff::graph::testing {

// Running stats and affine parameters away from their identity defaults, so a folded BN
// actually changes the conv weights.
inline void randomize_batch_norms(nn::Module& model) {
  for (auto* bn : model.modules_of_type<nn::BatchNormBase>()) {
    const Shape c = bn->running_mean.sizes();
    bn->running_mean.copy_(uniform(c, -0.5, 0.5));
    bn->running_var.copy_(uniform(c, 0.5, 2.0));
    if (bn->weight.defined()) bn->weight.detach().copy_(uniform(c, 0.5, 1.5));
    if (bn->bias.defined()) bn->bias.detach().copy_(uniform(c, -0.3, 0.3));
  }
}

// max |a - b| / max(max |b|, tiny)
inline double max_rel_diff(const Tensor& a, const Tensor& b) {
  const Tensor da = a.to(DType::Float64).contiguous(), db = b.to(DType::Float64).contiguous();
  EXPECT_EQ(da.sizes(), db.sizes());
  double diff = 0.0, scale = 1e-30;
  for (int64_t i = 0; i < std::min(da.numel(), db.numel()); ++i) {
    diff = std::max(diff, std::abs(da.data<double>()[i] - db.data<double>()[i]));
    scale = std::max(scale, std::abs(db.data<double>()[i]));
  }
  return diff / scale;
}

}  // namespace ff::graph::testing
