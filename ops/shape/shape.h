// Joining and splitting tensors.
#pragma once

#include <vector>

#include "framework/core/tensor.h"

namespace ff {

// Joins along an existing dim; all other dims must match (the error names each shape).
Tensor concat(const std::vector<Tensor>& tensors, int64_t dim);
// Joins along a new dim; all shapes must be equal.
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);
// Splits into chunks of `split_size` along dim (the last may be smaller).
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim);
// Splits into chunks of the given sizes, which must sum to x.size(dim).
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);

}  // namespace ff
