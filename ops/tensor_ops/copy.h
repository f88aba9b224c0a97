// Copies and dtype casts.
#pragma once

#include "framework/core/tensor.h"

namespace ff {

// dst[...] = src[...] (converted to dst's dtype). src must broadcast to dst's shape; the
// two may live on different devices. Not recorded by autograd.
void copy_into(const Tensor& dst, const Tensor& src);

// Differentiable dtype conversion (float <-> half, etc.); the gradient is cast back.
Tensor cast(const Tensor& t, DType dtype);

// Kernel: same device, src already has dst's shape (strides may be 0 for broadcast dims).
using CopyKernel = void (*)(const Tensor& dst, const Tensor& src);

}  // namespace ff
