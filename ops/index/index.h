// Indexing ops. Index tensors are int64 or int32; out-of-range indices raise an error that
// names the op, the offending value, its position in the index tensor and the valid range.
// Negative indices are errors (no wrap-around from the end): a negative class id or row
// number in face-recognition data is always a bug upstream, so it is reported, not reinterpreted.
#pragma once

#include "framework/core/tensor.h"

namespace ff {

// out = x.select rows `index` along dim; out.shape = x.shape with shape[dim] = index.numel(). index is 1-D.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);

// out[i][j][k] = x[index[i][j][k]][j][k] (dim 0), etc.; index has x's rank, out has index's shape.
// index.size(d) <= x.size(d) for every d != dim (index may be smaller, like numpy's take_along_axis
// on a sub-block).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);

// out = x, then out[index[i][j]][j] += src[i][j] (dim 0), etc. index and src have the same shape,
// x's rank, and index.size(d) <= x.size(d) for every d != dim; src has x's dtype. Duplicate
// indices accumulate (in a fixed order, so results are deterministic). Differentiable in x and src.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);

// labels [...] -> [..., num_classes] with 1 at each label, 0 elsewhere.
Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype = DType::Float32);

// Kernels. Shapes, ranks and dtypes are checked by the ops above; the kernels range-check the
// index values. `out` is freshly allocated and contiguous unless stated; x, index and src may
// be strided (index_select's 1-D index too).
// out[p] = x[p with coordinate `dim` replaced by index[p[dim]]]; registered per x dtype.
using IndexSelectKernel = void (*)(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index);
// out[p] = x[p with coordinate `dim` replaced by index[p]]; registered per x dtype.
using GatherKernel = void (*)(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index);
// out[p with coordinate `dim` replaced by index[p]] += src[p] for every position p of index, in
// place on `out` (already holding x); registered per out dtype.
using ScatterAddKernel = void (*)(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
// out[..., c] = (labels[...] == c); registered per out dtype.
using OneHotKernel = void (*)(const Tensor& out, const Tensor& labels);

}  // namespace ff
