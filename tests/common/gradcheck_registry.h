// Test-side bookkeeping of which ops have gradient checks.
//
//   FF_GRADCHECK_TEST(add, broadcast) { EXPECT_GRADCHECK("add", f, {a, b}); }
//
// defines a GoogleTest test Gradcheck_add.broadcast and records "add" as covered. The
// registry self-test (tests/gradcheck/registry_selftest_test.cpp) fails for any registered
// differentiable op that no FF_GRADCHECK_TEST covers. EXPECT_GRADCHECK also asserts that the
// named op really appears in the checked graph, so a test cannot claim an op it never runs.
#pragma once

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "framework/autograd/gradcheck.h"

namespace ff::testing {

std::set<std::string>& gradcheck_covered_ops();
bool register_gradcheck(const char* op);

// Runs gradcheck and returns an assertion result that names the op and the first mismatch.
::testing::AssertionResult check_gradients(const std::string& op, const autograd::MultiFn& f,
                                           const std::vector<Tensor>& inputs,
                                           const autograd::GradcheckOptions& opts = {});

// Float64 leaf with uniform values in [lo, hi), requiring grad.
Tensor leaf(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0);

}  // namespace ff::testing

#define FF_GRADCHECK_TEST(op, name)                                                           \
  static const bool ff_gradcheck_registered_##op##_##name = ::ff::testing::register_gradcheck(#op); \
  TEST(Gradcheck_##op, name)

#define EXPECT_GRADCHECK(op, ...) EXPECT_TRUE(::ff::testing::check_gradients(op, __VA_ARGS__))
