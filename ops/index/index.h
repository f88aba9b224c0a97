// Indexing ops. Index tensors are int64 or int32; out-of-range indices raise an error that
// names the op, the offending value and the valid range.
#pragma once

#include "framework/core/tensor.h"

namespace ff {

// out = x.select rows `index` along dim; out.shape = x.shape with shape[dim] = index.numel(). index is 1-D.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);

// out[i][j][k] = x[index[i][j][k]][j][k] (dim 0), etc.; index has x's rank, out has index's shape.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);

// out = x, then out[index[i][j]][j] += src[i][j] (dim 0), etc. index and src have the same shape.
// Differentiable in x and src.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);

// labels [...] -> [..., num_classes] with 1 at each label, 0 elsewhere.
Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype = DType::Float32);

}  // namespace ff
