// Activations and dropout.
#pragma once

#include <cstdint>

#include "framework/core/tensor.h"

namespace ff {

class Generator;

// max(x, 0); NaN propagates. The gradient at exactly 0 is 0.
Tensor relu(const Tensor& x);

// x [N, C, ...]; weight [C] (per channel) or [1] (shared). out = x > 0 ? x : weight[c] * x.
// With fewer than 2 dims x has no channel dim and weight must be [1]. A weight of another
// floating dtype is converted to x's dtype (its gradient is converted back).
Tensor prelu(const Tensor& x, const Tensor& weight);

// Inverted dropout: in training, zero each element with probability p and scale the rest by
// 1 / (1 - p); identity in eval or when p == 0. The mask comes from the Philox generator
// (default generator when gen is null), so it is reproducible and identical on CPU and CUDA.
// p must lie in [0, 1). Element i (row-major) is kept iff u_i >= p, where u_i is the uniform
// value rand() would produce for element i from the same generator state; each training call
// advances the generator by ceil(numel / 4) counters. The backward pass regenerates the same
// mask from (seed, counter) rather than storing it.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

// Kernels, keyed by x's dtype.
// "relu": out = relu(x), same shape, any strides. "relu_backward": grad_x = out > 0 ? grad_out : 0.
using ReluKernel = void (*)(const Tensor& out, const Tensor& x);
using ReluBackwardKernel = void (*)(const Tensor& grad_x, const Tensor& grad_out, const Tensor& out);
// "prelu" / "prelu_backward": x, out, grad_x, grad_out contiguous; weight contiguous [C] or [1]
// in x's dtype. With a [C] weight the channel of element i is (i / S) % C, S = prod(x.shape[2:]).
// The backward writes whichever of grad_x and grad_weight (weight's shape) are defined.
using PreluKernel = void (*)(const Tensor& out, const Tensor& x, const Tensor& weight);
using PreluBackwardKernel = void (*)(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_out,
                                     const Tensor& x, const Tensor& weight);
// "dropout" / "dropout_backward": contiguous tensors; element i is kept iff
// uniform(philox(seed, counter + i / 4, 0)[i % 4]) >= p and then scaled by 1 / (1 - p).
// The forward applies the mask to x, the backward applies the same mask to grad_out.
using DropoutKernel = void (*)(const Tensor& out, const Tensor& in, uint64_t seed, uint64_t counter, double p);

}  // namespace ff
