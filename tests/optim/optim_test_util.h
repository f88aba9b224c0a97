// Helpers shared by the optimizer tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "framework/common/check.h"
#include "framework/core/tensor.h"
#include "ops/tensor_ops/fill.h"

namespace ff::testing {

// A float64 (or `dtype`) parameter holding `values`, requiring grad.
inline Tensor param(const std::vector<double>& values, DType dtype = DType::Float64, Shape shape = {}) {
  if (shape.empty()) shape = {static_cast<int64_t>(values.size())};
  Tensor t = tensor_from(values, shape);
  if (dtype != DType::Float64) t = t.to(dtype);
  t.set_requires_grad(true);
  return t;
}

inline void set_grad(Tensor& p, const std::vector<double>& values) {
  p.set_grad(tensor_from(values, p.sizes()).to(p.dtype()));
}

inline std::vector<double> values(const Tensor& t) { return to_vector<double>(t); }

// Runs `fn`, expecting ff::Error whose message contains every one of `parts`.
template <typename Fn>
::testing::AssertionResult throws_error_with(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& part : parts) {
      if (msg.find(part) == std::string::npos) {
        return ::testing::AssertionFailure() << "error message lacks \"" << part << "\": " << msg;
      }
    }
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-ff::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "no exception thrown";
}

}  // namespace ff::testing

#define EXPECT_FF_ERROR(stmt, ...) EXPECT_TRUE(::ff::testing::throws_error_with([&] { stmt; }, {__VA_ARGS__}))

#define EXPECT_VALUES_NEAR(tensor, expected, tol)                                       \
  do {                                                                                  \
    const std::vector<double> ff_actual_ = ::ff::testing::values(tensor);               \
    const std::vector<double> ff_expected_ = (expected);                                \
    ASSERT_EQ(ff_actual_.size(), ff_expected_.size());                                  \
    for (size_t ff_i_ = 0; ff_i_ < ff_actual_.size(); ++ff_i_) {                        \
      EXPECT_NEAR(ff_actual_[ff_i_], ff_expected_[ff_i_], (tol)) << "element " << ff_i_; \
    }                                                                                   \
  } while (0)
