// clip_grad_norm_: total norms against hand-computed values, scaling, inf norm, non-finite
// gradients, undefined grads and 16-bit grads.
#include "framework/optim/clip_grad.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/optim/optim_test_util.h"

namespace ff {
namespace {

using namespace ff::optim;

using testing::param;
using testing::set_grad;
using testing::values;

TEST(ClipGradNorm, TotalNormByHandAndScaling) {
  Tensor a = param({0, 0, 0}), b = param({0, 0}), c = param({0});
  set_grad(a, {3.0, 0.0, -4.0});  // ||a|| = 5
  set_grad(b, {12.0, 0.0});       // ||b|| = 12
  // c has no grad: skipped.
  // total = sqrt(5^2 + 12^2) = 13
  const double total = clip_grad_norm_({a, b, c}, 6.5);
  EXPECT_DOUBLE_EQ(total, 13.0);
  // coef = 6.5 / (13 + 1e-6)
  const double coef = 6.5 / (13.0 + 1e-6);
  EXPECT_VALUES_NEAR(a.grad(), (std::vector<double>{3.0 * coef, 0.0, -4.0 * coef}), 1e-15);
  EXPECT_VALUES_NEAR(b.grad(), (std::vector<double>{12.0 * coef, 0.0}), 1e-15);
  EXPECT_NEAR(grad_total_norm({a, b}), 6.5, 1e-6);  // now at max_norm
  EXPECT_FALSE(c.grad().defined());
}

TEST(ClipGradNorm, SmallNormIsLeftAlone) {
  Tensor a = param({0, 0});
  set_grad(a, {0.3, 0.4});
  EXPECT_DOUBLE_EQ(clip_grad_norm_({a}, 5.0), 0.5);
  EXPECT_EQ(values(a.grad()), (std::vector<double>{0.3, 0.4}));  // bitwise unchanged
}

TEST(ClipGradNorm, Float32AndFloat16GradsAccumulateInFloat64) {
  // Mixed dtypes: one bucket per dtype; the total combines them.
  Tensor a = param({0, 0}, DType::Float32), b = param({0, 0}, DType::Float16);
  set_grad(a, {3.0, 4.0});   // 5
  set_grad(b, {6.0, 8.0});   // 10
  const double total = clip_grad_norm_({a, b}, 1.0);
  EXPECT_NEAR(total, std::sqrt(125.0), 1e-12);
  const double coef = 1.0 / (std::sqrt(125.0) + 1e-6);
  EXPECT_EQ(b.grad().dtype(), DType::Float16);
  EXPECT_VALUES_NEAR(a.grad(), (std::vector<double>{3 * coef, 4 * coef}), 1e-7);
  EXPECT_VALUES_NEAR(b.grad(), (std::vector<double>{6 * coef, 8 * coef}), 1e-3);
}

TEST(ClipGradNorm, LargeGradientNormIsExact) {
  // 100000 elements of 0.01: total = sqrt(1e5 * 1e-4) = sqrt(10), summed in float64 over many blocks.
  Tensor a = param(std::vector<double>(100000, 0.0), DType::Float32);
  a.set_grad(full({100000}, 0.01, DType::Float32));
  const double expected = std::sqrt(100000.0) * static_cast<double>(0.01f);
  EXPECT_NEAR(grad_total_norm({a}), expected, 1e-12);
}

TEST(ClipGradNorm, InfNormAndPNorm) {
  Tensor a = param({0, 0, 0}), b = param({0});
  set_grad(a, {1.0, -7.0, 2.0});
  set_grad(b, {5.0});
  EXPECT_DOUBLE_EQ(grad_total_norm({a, b}, kInfNorm), 7.0);
  EXPECT_DOUBLE_EQ(grad_total_norm({a, b}, 1.0), 15.0);
  // p = 3: (1 + 343 + 8 + 125)^(1/3) = 477^(1/3)
  EXPECT_NEAR(grad_total_norm({a, b}, 3.0), std::cbrt(477.0), 1e-12);
  const double total = clip_grad_norm_({a, b}, 3.5, kInfNorm);
  EXPECT_DOUBLE_EQ(total, 7.0);
  const double coef = 3.5 / (7.0 + 1e-6);
  EXPECT_VALUES_NEAR(a.grad(), (std::vector<double>{coef, -7.0 * coef, 2.0 * coef}), 1e-15);
  EXPECT_FF_ERROR(grad_total_norm({a}, 0.0), "norm_type");
  EXPECT_FF_ERROR(clip_grad_norm_({a}, -1.0), "max_norm");
}

TEST(ClipGradNorm, NonFiniteNorm) {
  Tensor a = param({0, 0}), b = param({0, 0, 0});
  set_grad(a, {1.0, 2.0});
  set_grad(b, {1.0, std::numeric_limits<double>::infinity(), 0.0});
  EXPECT_FF_ERROR(clip_grad_norm_({a, b}, 1.0, 2.0, /*error_if_nonfinite=*/true), "non-finite", "inf", "parameter 1",
                  "float64[3]");
  EXPECT_EQ(values(a.grad()), (std::vector<double>{1.0, 2.0}));  // untouched by the failed call
  set_grad(b, {1.0, std::nan(""), 0.0});
  EXPECT_FF_ERROR(clip_grad_norm_({a, b}, 1.0, kInfNorm, true), "non-finite", "nan");
  // Without the error flag PyTorch scales anyway: the grads become NaN.
  EXPECT_TRUE(std::isnan(clip_grad_norm_({a, b}, 1.0)));
  EXPECT_TRUE(std::isnan(values(a.grad())[0]));
}

TEST(ClipGradNorm, NoGradientsAtAll) {
  Tensor a = param({1.0});
  EXPECT_DOUBLE_EQ(clip_grad_norm_({a}, 1.0), 0.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm_({}, 1.0), 0.0);
}

}  // namespace
}  // namespace ff
