// Helpers shared by the nn_ops tests (tests/nn_ops/).
#pragma once

#include <cstdint>
#include <vector>

#include "framework/core/tensor.h"
#include "tests/common/test_assertions.h"

namespace ff::testing {

// Reference for the ops that work on one 1-D slice along `dim` at a time (softmax,
// l2_normalize): splits a host copy of x into its slices along `dim`, replaces each by
// slice_fn(slice) (a vector of the same length) and returns the result in x's row-major order.
template <typename SliceFn>
std::vector<double> naive_along_dim(const Tensor& x, int64_t dim, const SliceFn& slice_fn) {
  const std::vector<double> v = host(x.contiguous());
  int64_t outer = 1, inner = 1;
  const int64_t len = x.size(dim);
  for (int64_t i = 0; i < dim; ++i) outer *= x.size(i);
  for (int64_t i = dim + 1; i < x.dim(); ++i) inner *= x.size(i);
  std::vector<double> out(v.size());
  std::vector<double> slice(static_cast<size_t>(len));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      for (int64_t k = 0; k < len; ++k) slice[k] = v[(o * len + k) * inner + j];
      const std::vector<double> result = slice_fn(slice);
      for (int64_t k = 0; k < len; ++k) out[(o * len + k) * inner + j] = result[k];
    }
  }
  return out;
}

}  // namespace ff::testing
