// Helpers for the multi-rank tests: every rank builds the same logical data deterministically,
// so each can compute the single-process answer itself and compare with what it received.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "framework/distributed/communicator.h"
#include "ops/tensor_ops/fill.h"

namespace ff::testing {

// Values exactly representable in float32 and small enough that sums over a few ranks stay
// exact: ((37 i + 11 seed) mod 101 - 50) / 8, converted to `dtype` (integers: not divided).
inline Tensor det_tensor(const Shape& shape, int64_t seed, DType dtype = DType::Float64) {
  const int64_t n = shape_numel(shape);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double k = static_cast<double>(((37 * i + 11 * seed) % 101 + 101) % 101 - 50);
    v[static_cast<size_t>(i)] = is_floating(dtype) ? k / 8.0 : k;
  }
  return tensor_from(v, shape).to(dtype);
}

inline std::vector<double> vals(const Tensor& t) { return to_vector<double>(t); }

// Element-wise equality with a tolerance (0 = exact), reporting the first mismatch.
inline ::testing::AssertionResult same_values(const Tensor& actual, const Tensor& expected, double tol = 0.0) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << "shape " << shape_str(actual.sizes()) << " vs expected "
                                         << shape_str(expected.sizes());
  }
  const std::vector<double> a = vals(actual), e = vals(expected);
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(std::abs(a[i] - e[i]) <= tol * (1.0 + std::abs(e[i])))) {
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs expected " << e[i];
    }
  }
  return ::testing::AssertionSuccess();
}

inline std::string rank_label(const distributed::Communicator& c) {
  return "rank " + std::to_string(c.rank()) + "/" + std::to_string(c.world_size());
}

}  // namespace ff::testing
