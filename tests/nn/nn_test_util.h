// Helpers shared by the nn module tests.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "framework/common/check.h"
#include "framework/core/tensor.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace ff::nn::testing {

// Runs fn, expects ff::Error, and returns its message (empty when nothing was thrown).
inline std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ff::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected ff::Error, nothing was thrown";
  return "";
}

// Expects fn to throw ff::Error whose message contains every string in `parts`.
inline void expect_error_containing(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  const std::string msg = error_message(fn);
  for (const auto& part : parts) {
    EXPECT_NE(msg.find(part), std::string::npos) << "message lacks \"" << part << "\":\n" << msg;
  }
}

inline std::vector<double> values(const Tensor& t) { return to_vector<double>(t.detach()); }

inline void expect_close(const Tensor& a, const Tensor& b, double tol = 1e-5) {
  ASSERT_EQ(a.sizes(), b.sizes());
  const std::vector<double> va = values(a), vb = values(b);
  for (size_t i = 0; i < va.size(); ++i) EXPECT_NEAR(va[i], vb[i], tol) << "at element " << i;
}

inline void expect_values_near(const Tensor& t, const std::vector<double>& expected, double tol = 1e-6) {
  const std::vector<double> v = values(t);
  ASSERT_EQ(v.size(), expected.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], expected[i], tol) << "at element " << i;
}

inline bool all_equal(const Tensor& a, const Tensor& b) {
  return a.sizes() == b.sizes() && values(a) == values(b);
}

inline Tensor random_input(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Generator gen(seed);
  return uniform(shape, lo, hi, DType::Float32, Device(), &gen);
}

}  // namespace ff::nn::testing
