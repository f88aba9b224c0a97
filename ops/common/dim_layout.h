// A contiguous tensor viewed as [outer, length, inner] around one dim: slice (o, j) holds the
// elements base + k * inner for k in [0, length), with base = o * length * inner + j. Used by
// the per-dim CPU and CUDA kernels (softmax, l2_normalize).
#pragma once

#include <cstdint>

#include "framework/core/tensor.h"

namespace ff {

struct DimLayout {
  int64_t outer = 1, length = 1, inner = 1;
};

inline DimLayout dim_layout(const Tensor& x, int64_t dim) {
  DimLayout l;
  if (x.dim() == 0) return l;
  for (int64_t i = 0; i < dim; ++i) l.outer *= x.size(i);
  l.length = x.size(dim);
  for (int64_t i = dim + 1; i < x.dim(); ++i) l.inner *= x.size(i);
  return l;
}

}  // namespace ff
