// Joining and splitting tensors.
//
// concat promotes mixed dtypes to their common type (promote_types), like the elementwise ops;
// the gradient of each input is cast back to that input's dtype. split returns views of x.
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

// Kernel: out is contiguous with out.size(dim) = sum of inputs' size(dim); every input already
// has out's dtype and device and matches out outside `dim` (inputs may be strided).
using ConcatKernel = void (*)(const Tensor& out, const std::vector<Tensor>& inputs, int64_t dim);

}  // namespace ff
