// Helpers shared by the index/shape tests: reference index arithmetic, random data and
// exception-message checks.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace ff::testing {

// Row-major multi-index of `linear` in `shape`, and back.
inline std::vector<int64_t> unravel(int64_t linear, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    idx[k] = linear % shape[k];
    linear /= shape[k];
  }
  return idx;
}
inline int64_t ravel(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t linear = 0;
  for (size_t k = 0; k < shape.size(); ++k) linear = linear * shape[k] + idx[k];
  return linear;
}

// Float64 values from a fixed seed (no autograd).
inline Tensor random_tensor(const Shape& shape, uint64_t seed, DType dtype = DType::Float64) {
  Generator g(seed);
  return randn(shape, DType::Float64, Device(), &g).to(dtype);
}

// Integer index values in [0, limit) from a fixed seed, as an int64 tensor of `shape`.
inline Tensor random_index(const Shape& shape, int64_t limit, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = static_cast<int64_t>(rng() % static_cast<uint64_t>(limit));
  return tensor_from(v, shape);
}

// Runs f, expects an ff::Error whose message contains every string in `parts`.
inline void expect_error_with(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an ff::Error mentioning '" << (parts.empty() ? "" : parts[0]) << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
  }
}

}  // namespace ff::testing
