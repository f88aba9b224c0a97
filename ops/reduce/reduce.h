// Reductions over dims.
//
//   sum/mean/max/min(x, dims, keepdim): dims empty = all dims. Output drops reduced dims
//   unless keepdim. max/min gradients are shared equally among tied maxima. Sums of integer
//   and bool tensors return int64.
//   argmax/argmin(x, dim, keepdim): int64 indices of the first extreme value along dim.
//   sum_to(x, shape): sums x down to `shape` (the inverse of broadcasting); used by backward.
#pragma once

#include <vector>

#include "framework/core/tensor.h"

namespace ff {

enum class ReduceOp { Sum, Mean, Max, Min };

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor max(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor min(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor sum_to(const Tensor& x, const Shape& shape);

// Kernels. `out` is contiguous with x's rank; a dim is reduced where out.size(d) == 1.
using ReduceKernel = void (*)(const Tensor& out, const Tensor& x, ReduceOp op);
// out: int64, x's rank with out.size(dim) == 1.
using ArgReduceKernel = void (*)(const Tensor& out, const Tensor& x, int64_t dim, bool is_max);

}  // namespace ff
