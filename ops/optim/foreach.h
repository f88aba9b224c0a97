// Multi-tensor helpers for gradient clipping: one op call for a whole list of tensors that
// share a device and dtype (a CUDA backend can register multi-tensor kernels under the same
// names).
//
//   foreach_norm(tensors, p) -> float64 [n]:  out[i] = (sum_j |tensors[i]_j|^p)^(1/p),
//                                             or max_j |tensors[i]_j| for p = inf.
//       Accumulated in float64 whatever the input dtype; an empty tensor has norm 0.
//       The result lives on the tensors' device.
//   foreach_scale_(tensors, s):               tensors[i] *= s in place, computing in
//                                             acc_t<dtype> with s rounded once to it.
#pragma once

#include <vector>

#include "framework/core/tensor.h"

namespace ff {

Tensor foreach_norm(const std::vector<Tensor>& tensors, double norm_type);
void foreach_scale_(const std::vector<Tensor>& tensors, double scale);

// Kernels. foreach_norm: `out` is a contiguous float64 [tensors.size()] tensor on the
// tensors' device; norm_type is > 0 (possibly inf).
using ForeachNormKernel = void (*)(const Tensor& out, const std::vector<Tensor>& tensors, double norm_type);
using ForeachScaleKernel = void (*)(const std::vector<Tensor>& tensors, double scale);

}  // namespace ff
