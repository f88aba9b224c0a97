// Helpers shared by the optimizer tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "framework/common/check.h"
#include "framework/core/tensor.h"
#include "ops/tensor_ops/fill.h"
#include "tests/common/test_assertions.h"

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

}  // namespace ff::testing


#define EXPECT_VALUES_NEAR(tensor, expected, tol)                                       \
  do {                                                                                  \
    const std::vector<double> ff_actual_ = ::ff::testing::values(tensor);               \
    const std::vector<double> ff_expected_ = (expected);                                \
    ASSERT_EQ(ff_actual_.size(), ff_expected_.size());                                  \
    for (size_t ff_i_ = 0; ff_i_ < ff_actual_.size(); ++ff_i_) {                        \
      EXPECT_NEAR(ff_actual_[ff_i_], ff_expected_[ff_i_], (tol)) << "element " << ff_i_; \
    }                                                                                   \
  } while (0)
