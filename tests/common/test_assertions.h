// Assertions shared by the test suites: host copies of tensors, element-wise closeness, and
// "this throws ff::Error with a message naming ...". (Suite-specific helpers stay in each
// directory's *_test_util.h.)
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "framework/common/check.h"
#include "framework/core/tensor.h"
#include "ops/tensor_ops/fill.h"

namespace ff::testing {

// The values of `t` (any dtype, device and layout) as doubles, in row-major order.
inline std::vector<double> host(const Tensor& t) { return to_vector<double>(t); }

// |actual - expected| <= atol + rtol * |expected| element by element; a NaN matches a NaN and an
// infinity the same infinity. Reports the first offender.
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

// Runs `fn`, expecting an ff::Error whose message contains every one of `parts`; the message is
// attached to the result either way.
template <typename Fn>
::testing::AssertionResult throws_error_with(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    std::forward<Fn>(fn)();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& part : parts) {
      if (msg.find(part) == std::string::npos) {
        return ::testing::AssertionFailure() << "error message lacks \"" << part << "\": " << msg;
      }
    }
    return ::testing::AssertionSuccess() << msg;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-ff::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "no exception thrown";
}

}  // namespace ff::testing

// EXPECT_FF_ERROR(statement, "fragment", ...): the statement throws ff::Error naming every fragment.
#define EXPECT_FF_ERROR(stmt, ...) EXPECT_TRUE(::ff::testing::throws_error_with([&] { stmt; }, {__VA_ARGS__}))
