// Activations and dropout.
#pragma once

#include "framework/core/tensor.h"

namespace ff {

class Generator;

Tensor relu(const Tensor& x);

// x [N, C, ...]; weight [C] (per channel) or [1] (shared). out = x > 0 ? x : weight[c] * x.
Tensor prelu(const Tensor& x, const Tensor& weight);

// Inverted dropout: in training, zero each element with probability p and scale the rest by
// 1 / (1 - p); identity in eval or when p == 0. The mask comes from the Philox generator
// (default generator when gen is null), so it is reproducible and identical on CPU and CUDA.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

}  // namespace ff
