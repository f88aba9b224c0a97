// L2 normalisation along one dim: x / max(||x||_2, eps), like torch.nn.functional.normalize.
#pragma once

#include "framework/core/tensor.h"

namespace ff {

Tensor l2_normalize(const Tensor& x, int64_t dim = 1, double eps = 1e-12);

}  // namespace ff
