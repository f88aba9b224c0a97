// Helpers shared by the NN-op tests: host copies, tolerance comparisons, error-message checks.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "ops/tensor_ops/fill.h"

namespace ff::nn_test {

inline std::vector<double> host(const Tensor& t) { return to_vector<double>(t); }

// |actual - expected| <= atol + rtol * |expected| element by element (NaNs must match NaNs).
inline ::testing::AssertionResult all_close(const std::vector<double>& actual, const std::vector<double>& expected,
                                            double atol, double rtol = 0.0) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " vs expected " << expected.size();
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    if (std::isnan(e) && std::isnan(a)) continue;
    if (std::isinf(e) && a == e) continue;
    if (!(std::abs(a - e) <= atol + rtol * std::abs(e))) {
      return ::testing::AssertionFailure() << "element " << i << ": " << a << " vs expected " << e << " (atol " << atol
                                           << ", rtol " << rtol << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double atol,
                                            double rtol = 0.0) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << "shape " << shape_str(actual.sizes()) << " vs expected "
                                         << shape_str(expected.sizes());
  }
  return all_close(host(actual), host(expected), atol, rtol);
}

// Runs `f`, expecting an ff::Error whose message contains every one of `fragments`.
inline ::testing::AssertionResult throws_with(const std::function<void()>& f, const std::vector<std::string>& fragments) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& frag : fragments) {
      if (msg.find(frag) == std::string::npos) {
        return ::testing::AssertionFailure() << "message lacks \"" << frag << "\": " << msg;
      }
    }
    return ::testing::AssertionSuccess() << msg;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-ff::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "no exception thrown";
}

}  // namespace ff::nn_test
