// Matrix products (OpenBLAS on CPU, cuBLAS on CUDA).
#pragma once

#include "framework/core/tensor.h"

namespace ff {

// a [..., M, K] @ b [..., K, N] -> [..., M, N]; leading (batch) dims broadcast. 1-D operands
// follow NumPy: a [K] is treated as [1, K], b [K] as [K, 1], and the added dim is dropped.
Tensor matmul(const Tensor& a, const Tensor& b);

// x [..., in] @ weight[out, in]^T + bias[out] -> [..., out]. bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace ff
