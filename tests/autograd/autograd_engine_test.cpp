// The tape autograd engine: accumulation, retain_graph, freed saved tensors, no-grad,
// version-counter checks, grad-ready hooks, and diamond/multi-root graphs.
#include <gtest/gtest.h>

#include "framework/autograd/autograd.h"
#include "ops/elementwise/binary.h"
#include "ops/elementwise/unary.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/fill.h"

namespace ff {
namespace {

Tensor param(std::vector<double> v) {
  Tensor t = tensor_from(v, {static_cast<int64_t>(v.size())});
  t.set_requires_grad(true);
  return t;
}

std::vector<double> grad_of(const Tensor& t) { return to_vector<double>(t.grad()); }

TEST(Autograd, ScalarBackwardComputesProductRule) {
  Tensor x = param({1.0, 2.0, 3.0});
  Tensor y = param({4.0, 5.0, 6.0});
  Tensor loss = sum(mul(x, y));  // dL/dx = y, dL/dy = x
  loss.backward();
  EXPECT_EQ(grad_of(x), (std::vector<double>{4, 5, 6}));
  EXPECT_EQ(grad_of(y), (std::vector<double>{1, 2, 3}));
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = param({1.0, -2.0});
  sum(mul(x, 3.0)).backward();
  sum(mul(x, 3.0)).backward();
  EXPECT_EQ(grad_of(x), (std::vector<double>{6, 6}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, DiamondGraphSumsBothPaths) {
  Tensor x = param({2.0});
  Tensor a = mul(x, x);      // x^2
  Tensor b = mul(x, 5.0);    // 5x
  Tensor loss = sum(add(a, b));
  loss.backward();
  EXPECT_DOUBLE_EQ(grad_of(x)[0], 2 * 2.0 + 5.0);
}

TEST(Autograd, BackwardWithExplicitGradient) {
  Tensor x = param({1.0, 2.0});
  Tensor y = mul(x, 2.0);
  y.backward(tensor_from(std::vector<double>{10.0, 100.0}, {2}));
  EXPECT_EQ(grad_of(x), (std::vector<double>{20, 200}));
}

TEST(Autograd, NonScalarBackwardWithoutGradientIsAnError) {
  Tensor x = param({1.0, 2.0});
  Tensor y = mul(x, 2.0);
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("float64[2]"), std::string::npos) << e.what();
  }
}

TEST(Autograd, SecondBackwardThroughFreedGraphRaisesClearError) {
  Tensor x = param({1.0, 2.0});
  Tensor loss = sum(mul(x, x));
  loss.backward();
  try {
    loss.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("second time"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mul_backward"), std::string::npos) << e.what();
  }
}

TEST(Autograd, RetainGraphAllowsSecondBackward) {
  Tensor x = param({1.0, 2.0});
  Tensor loss = sum(mul(x, x));
  loss.backward(Tensor(), /*retain_graph=*/true);
  loss.backward();
  EXPECT_EQ(grad_of(x), (std::vector<double>{4, 8}));
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = param({1.0});
  Tensor y;
  {
    autograd::NoGradGuard guard;
    y = mul(x, 2.0);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_FALSE(y.grad_fn());
  EXPECT_TRUE(autograd::grad_mode_enabled());
}

TEST(Autograd, InPlaceChangeOfSavedTensorIsDetected) {
  Tensor x = param({1.0, 2.0});
  Tensor w = tensor_from(std::vector<double>{3.0, 4.0}, {2});
  Tensor loss = sum(mul(x, w));  // saves w
  w.fill_(0.0);                  // w does not require grad: allowed, but bumps its version
  try {
    loss.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified by an in-place operation"), std::string::npos) << e.what();
  }
}

TEST(Autograd, InPlaceWriteToLeafRequiringGradIsRefused) {
  Tensor x = param({1.0});
  EXPECT_THROW(x.fill_(2.0), Error);
  autograd::NoGradGuard guard;
  EXPECT_NO_THROW(x.fill_(2.0));
}

TEST(Autograd, GradReadyHookFiresOncePerLeafPerBackwardWithFinalGradient) {
  Tensor x = param({1.0, 2.0});
  Tensor y = param({3.0});
  int x_calls = 0, y_calls = 0;
  std::vector<double> seen;
  x.register_grad_ready_hook([&](const Tensor& p) {
    ++x_calls;
    seen = to_vector<double>(p.grad());
  });
  y.register_grad_ready_hook([&](const Tensor&) { ++y_calls; });
  // x is used twice: the hook must see the summed gradient, once.
  Tensor loss = add(sum(mul(x, y)), sum(mul(x, 2.0)));
  loss.backward();
  EXPECT_EQ(x_calls, 1);
  EXPECT_EQ(y_calls, 1);
  EXPECT_EQ(seen, (std::vector<double>{5.0, 5.0}));
}

TEST(Autograd, UnusedOutputBranchDoesNotBlockOtherGradients) {
  // y depends on x only through a path whose gradient is never produced for one input.
  Tensor x = param({1.0, 2.0});
  Tensor c = tensor_from(std::vector<double>{1.0, 1.0}, {2});
  Tensor loss = sum(add(mul(x, c), where(gt(c, zeros({}, DType::Float64)), x, c)));
  loss.backward();
  EXPECT_EQ(grad_of(x), (std::vector<double>{2.0, 2.0}));
}

TEST(Autograd, DetachStopsGradient) {
  Tensor x = param({3.0});
  Tensor loss = sum(mul(x, x.detach()));
  loss.backward();
  EXPECT_DOUBLE_EQ(grad_of(x)[0], 3.0);
}

TEST(Autograd, SetRequiresGradOnlyOnFloatingLeaves) {
  Tensor i = arange(3);
  EXPECT_THROW(i.set_requires_grad(true), Error);
  Tensor x = param({1.0});
  Tensor y = mul(x, 2.0);
  EXPECT_THROW(y.set_requires_grad(false), Error);
}

TEST(Autograd, GradientFlowsThroughViewsToTheBase) {
  Tensor x = tensor_from(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  x.set_requires_grad(true);
  Tensor loss = sum(mul(x.t().slice(0, 1, 3), 2.0));  // picks columns 1 and 2
  loss.backward();
  EXPECT_EQ(grad_of(x), (std::vector<double>{0, 2, 2, 0, 2, 2}));
}

TEST(Autograd, MixedPrecisionGradientIsCastBackToLeafDtype) {
  Tensor x = tensor_from(std::vector<float>{1.0f, 2.0f}, {2});
  x.set_requires_grad(true);
  Tensor loss = sum(mul(x.to(DType::Float64), 3.0));
  loss.backward();
  EXPECT_EQ(x.grad().dtype(), DType::Float32);
  EXPECT_EQ(to_vector<float>(x.grad()), (std::vector<float>{3.0f, 3.0f}));
}

}  // namespace
}  // namespace ff
