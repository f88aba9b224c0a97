// Helpers of the margin tests: host copies, comparisons, error checks, and an independent
// closed-form reference of the combined margin (written from the formulas, not the kernels).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "ops/margin/margin.h"
#include "ops/tensor_ops/fill.h"
#include "tests/common/test_assertions.h"

namespace ff::margin_test {

using ::ff::testing::all_close;
using ::ff::testing::host;
using ::ff::testing::throws_error_with;

// f(x) of the target column for the given options (before the scale), from the definitions
// in margin.h: plain formula below θ_b = (π − m2)/m1, each overflow policy above it.
inline double reference_target(double x, const MarginOptions& o) {
  const double pi = 3.14159265358979323846;
  x = std::min(1.0, std::max(-1.0, x));
  const double theta = std::acos(x);
  const double theta_b = (pi - o.m2) / o.m1;
  const double plain = std::cos(o.m1 * theta + o.m2) - o.m3;
  switch (o.overflow) {
    case MarginOverflow::kPlain: return plain;
    case MarginOverflow::kLinear:
      return theta_b < pi && theta >= theta_b ? (x - std::cos(theta_b)) - 1.0 - o.m3 : plain;
    case MarginOverflow::kThMm:
      return theta_b < pi && theta >= theta_b ? x - std::sin(pi - o.m2) * o.m2 - o.m3 : plain;
    case MarginOverflow::kEasyMargin: return x <= 0.0 ? x : plain;
  }
  return plain;
}

// Row-major reference logits of combined_margin for host data.
inline std::vector<double> reference_logits(const std::vector<double>& x, const std::vector<int64_t>& labels,
                                            int64_t cols, const MarginOptions& o) {
  std::vector<double> out(x.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const double v = x[i * cols + j];
      const bool target = labels[i] == j;
      const bool drop = !target && o.interclass_filtering_threshold > 0.0 && v > o.interclass_filtering_threshold;
      out[i * cols + j] = drop ? 0.0 : o.scale * (target ? reference_target(v, o) : std::min(1.0, std::max(-1.0, v)));
    }
  }
  return out;
}

}  // namespace ff::margin_test
