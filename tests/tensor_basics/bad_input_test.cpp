// Bad input raises ff::Error whose message names the op and the shapes/dtypes at fault.
#include <gtest/gtest.h>

#include "ops/elementwise/binary.h"
#include "ops/elementwise/unary.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/fill.h"

namespace ff {
namespace {

// Runs f, expects ff::Error, and checks that every fragment appears in the message.
template <typename F>
void expect_error_mentions(F f, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "expected ff::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& frag : fragments) EXPECT_NE(msg.find(frag), std::string::npos) << "'" << frag << "' not in: " << msg;
  }
}

TEST(BadInput, BroadcastMismatchNamesBothShapes) {
  expect_error_mentions([] { add(zeros({2, 3}), zeros({4})); }, {"add", "[2, 3]", "[4]"});
  expect_error_mentions([] { mul(zeros({5, 1, 3}), zeros({2, 2})); }, {"mul", "[5, 1, 3]", "[2, 2]"});
}

TEST(BadInput, DtypeWithoutKernelNamesOpDeviceAndDtype) {
  expect_error_mentions([] { exp(arange(3)); }, {"exp", "cpu", "int64"});
  expect_error_mentions([] { div(arange(3), arange(3)); }, {"div", "int64"});
}

TEST(BadInput, DimOutOfRange) {
  expect_error_mentions([] { sum(zeros({2, 3}), {2}); }, {"sum", "dim 2", "2 dims"});
  expect_error_mentions([] { zeros({2, 3}).transpose(0, 5); }, {"transpose", "dim 5"});
}

TEST(BadInput, ViewOfIncompatibleShape) {
  expect_error_mentions([] { zeros({2, 3}).view({4, 2}); }, {"[2, 3]", "[4, 2]"});
  expect_error_mentions([] { zeros({2, 3}).t().view({6}); }, {"view", "reshape()"});
}

TEST(BadInput, ItemOnManyElements) {
  expect_error_mentions([] { (void)zeros({2, 2}).item<float>(); }, {"item", "float32[2, 2]", "4 elements"});
}

TEST(BadInput, MaxOverEmptyDimension) {
  expect_error_mentions([] { max(zeros({0, 3}), {0}); }, {"max", "empty"});
}

TEST(BadInput, ClampWithInvertedBounds) {
  expect_error_mentions([] { clamp(zeros({2}), 1.0, -1.0); }, {"clamp", "1", "-1"});
}

TEST(BadInput, WhereNeedsBoolCondition) {
  expect_error_mentions([] { where(zeros({2}), zeros({2}), zeros({2})); }, {"where", "bool", "float32[2]"});
}

TEST(BadInput, UndefinedTensorArgument) {
  expect_error_mentions([] { add(Tensor(), zeros({2})); }, {"add", "undefined"});
}

TEST(NonFinite, NanPropagatesThroughMaxAndSum) {
  Tensor x = tensor_from(std::vector<float>{1.0f, std::nanf(""), 3.0f}, {3});
  EXPECT_TRUE(std::isnan(max(x).item<float>()));
  EXPECT_TRUE(std::isnan(sum(x).item<float>()));
  EXPECT_TRUE(std::isnan(maximum(x, zeros({3})).to(DType::Float64).select(0, 1).item<double>()));
}

}  // namespace
}  // namespace ff
