// L2 normalisation along one dim: x / max(||x||_2, eps), like torch.nn.functional.normalize.
#pragma once

#include "framework/core/tensor.h"

namespace ff {

// Any shape; `dim` may be negative. Where ||x|| < eps the slice is divided by eps (so an
// all-zero row stays zero) and its gradient is grad / eps; elsewhere the gradient is
// (grad - y <grad, y>) / ||x||. eps must be >= 0. Differentiable in x.
Tensor l2_normalize(const Tensor& x, int64_t dim = 1, double eps = 1e-12);

// Kernels (op names "l2_normalize" and "l2_normalize_backward"), keyed by x's dtype. All
// tensors are contiguous with x's shape; `dim` is already normalised (0 for a 0-d x). The
// backward kernel recomputes the norms from x instead of saving them.
using L2NormalizeKernel = void (*)(const Tensor& out, const Tensor& x, int64_t dim, double eps);
using L2NormalizeBackwardKernel = void (*)(const Tensor& grad_x, const Tensor& grad_out, const Tensor& x,
                                           int64_t dim, double eps);

}  // namespace ff
