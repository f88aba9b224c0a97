// nn::init: fans, gains, constant fills, and the statistics of the random initialisers.
#include "framework/nn/init.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "framework/nn/nn.h"
#include "tests/nn/nn_test_util.h"

namespace ff::nn {
namespace {

using testing::expect_error_containing;
using testing::values;

struct Stats {
  double mean = 0, std = 0, max_abs = 0;
};

Stats stats_of(const Tensor& t) {
  const std::vector<double> v = values(t);
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) {
    s.std += (x - s.mean) * (x - s.mean);
    s.max_abs = std::max(s.max_abs, std::abs(x));
  }
  s.std = std::sqrt(s.std / static_cast<double>(v.size() - 1));
  return s;
}

// A conv weight [out, in, kh, kw] = [256, 128, 3, 3]: fan_in 1152, fan_out 2304, 294,912 values,
// so the sample std is within ~0.2% of the true one; 2% is a safe tolerance.
const Shape kConvShape{256, 128, 3, 3};
constexpr double kRelTol = 0.02;

void expect_std(const Tensor& t, double expected_std) {
  const Stats s = stats_of(t);
  EXPECT_NEAR(s.mean, 0.0, 0.01 * expected_std + 1e-4);
  EXPECT_NEAR(s.std, expected_std, kRelTol * expected_std);
}

TEST(Init, FansForLinearAndConvWeights) {
  const init::Fans linear = init::calculate_fans(zeros({512, 25088}));
  EXPECT_EQ(linear.fan_in, 25088);
  EXPECT_EQ(linear.fan_out, 512);
  // Depthwise conv: weight [C_out, C_in / groups, kh, kw] = [128, 1, 3, 3].
  const init::Fans conv = init::calculate_fans(zeros({128, 1, 3, 3}));
  EXPECT_EQ(conv.fan_in, 9);
  EXPECT_EQ(conv.fan_out, 128 * 9);
  Conv2d grouped(Conv2dOptions(128, 256, 3).set_groups(64));
  EXPECT_EQ(init::calculate_fans(grouped.weight).fan_in, 2 * 9);
  expect_error_containing([] { init::calculate_fans(zeros({5})); }, {"at least 2 dims", "[5]"});
  expect_error_containing([] { init::kaiming_normal_(zeros({5})); }, {"at least 2 dims"});
  expect_error_containing([] { init::xavier_uniform_(zeros({})); }, {"at least 2 dims"});
}

TEST(Init, Gains) {
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::Linear), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::Conv), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::Sigmoid), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::Tanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::ReLU), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::LeakyReLU, 0.2), std::sqrt(2.0 / 1.04));
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::SELU), 0.75);
}

TEST(Init, ConstantFillsWorkOnParameters) {
  Tensor p = Tensor::empty({3, 4}).set_requires_grad(true);  // in-place fills run under NoGradGuard
  const uint64_t v0 = p.version();
  init::constant_(p, 2.5);
  EXPECT_EQ(values(p), std::vector<double>(12, 2.5));
  EXPECT_GT(p.version(), v0);
  init::zeros_(p);
  EXPECT_EQ(values(p), std::vector<double>(12, 0.0));
  init::ones_(p);
  EXPECT_EQ(values(p), std::vector<double>(12, 1.0));
  EXPECT_TRUE(p.requires_grad());
  expect_error_containing([] { init::ones_(zeros({2}, DType::Int64)); }, {"floating", "int64"});
}

TEST(Init, KaimingNormalStd) {
  Generator gen(123);
  Tensor w = Tensor::empty(kConvShape).set_requires_grad(true);
  init::kaiming_normal_(w, 0.0, init::FanMode::FanIn, init::Nonlinearity::ReLU, &gen);
  expect_std(w, std::sqrt(2.0) / std::sqrt(1152.0));
  // mobilefacenet: kaiming_normal_(mode="fan_out", nonlinearity="relu").
  init::kaiming_normal_(w, 0.0, init::FanMode::FanOut, init::Nonlinearity::ReLU, &gen);
  expect_std(w, std::sqrt(2.0) / std::sqrt(2304.0));
  // leaky_relu with a = 0.1 and the linear gain.
  init::kaiming_normal_(w, 0.1, init::FanMode::FanIn, init::Nonlinearity::LeakyReLU, &gen);
  expect_std(w, std::sqrt(2.0 / 1.01) / std::sqrt(1152.0));
  init::kaiming_normal_(w, 0.0, init::FanMode::FanIn, init::Nonlinearity::Linear, &gen);
  expect_std(w, 1.0 / std::sqrt(1152.0));
}

TEST(Init, KaimingUniformBoundAndStd) {
  Generator gen(7);
  Tensor w = Tensor::empty(kConvShape);
  init::kaiming_uniform_(w, 0.0, init::FanMode::FanIn, init::Nonlinearity::ReLU, &gen);
  const double bound = std::sqrt(2.0) * std::sqrt(3.0 / 1152.0);
  const Stats s = stats_of(w);
  EXPECT_LE(s.max_abs, bound);
  EXPECT_GT(s.max_abs, 0.99 * bound);
  EXPECT_NEAR(s.std, bound / std::sqrt(3.0), kRelTol * bound / std::sqrt(3.0));
}

TEST(Init, XavierUniformAndNormal) {
  Generator gen(11);
  Tensor w = Tensor::empty({1024, 512});
  init::xavier_uniform_(w, 1.0, &gen);
  const double bound = std::sqrt(6.0 / (1024.0 + 512.0));
  const Stats s = stats_of(w);
  EXPECT_LE(s.max_abs, bound);
  EXPECT_NEAR(s.std, bound / std::sqrt(3.0), kRelTol * bound / std::sqrt(3.0));
  init::xavier_normal_(w, 2.0, &gen);
  expect_std(w, 2.0 * std::sqrt(2.0 / (1024.0 + 512.0)));
}

TEST(Init, NormalAndUniform) {
  Generator gen(5);
  Tensor w = Tensor::empty(kConvShape);
  init::normal_(w, 0.0, 0.1, &gen);  // arcface_torch IResNet conv init
  expect_std(w, 0.1);
  init::normal_(w, 3.0, 0.5, &gen);
  EXPECT_NEAR(stats_of(w).mean, 3.0, 0.01);
  init::uniform_(w, 2.0, 4.0, &gen);
  const std::vector<double> v = values(w);
  EXPECT_GE(*std::min_element(v.begin(), v.end()), 2.0);
  EXPECT_LT(*std::max_element(v.begin(), v.end()), 4.0);
  EXPECT_NEAR(stats_of(w).mean, 3.0, 0.01);
  expect_error_containing([&] { init::uniform_(w, 1.0, 0.0); }, {"uniform_", "1", "0"});
  expect_error_containing([&] { init::normal_(w, 0.0, -1.0); }, {"normal_", "-1"});
}

TEST(Init, FixedGeneratorIsReproducible) {
  Generator a(42), b(42);
  Tensor x = Tensor::empty({64, 32}), y = Tensor::empty({64, 32});
  init::kaiming_uniform_(x, 0.0, init::FanMode::FanIn, init::Nonlinearity::ReLU, &a);
  init::kaiming_uniform_(y, 0.0, init::FanMode::FanIn, init::Nonlinearity::ReLU, &b);
  EXPECT_EQ(values(x), values(y));
  init::kaiming_uniform_(y, 0.0, init::FanMode::FanIn, init::Nonlinearity::ReLU, &b);
  EXPECT_NE(values(x), values(y));  // the generator advanced

  // Default layer init matches PyTorch's bounds: Linear / Conv2d weight and bias within 1/sqrt(fan_in).
  manual_seed(3);
  Linear linear(400, 300);
  EXPECT_LE(stats_of(linear.weight).max_abs, 1.0 / std::sqrt(400.0));
  EXPECT_GT(stats_of(linear.weight).max_abs, 0.95 / std::sqrt(400.0));
  EXPECT_LE(stats_of(linear.bias).max_abs, 1.0 / std::sqrt(400.0));
  Conv2d conv(Conv2dOptions(16, 32, 3));
  EXPECT_LE(stats_of(conv.weight).max_abs, 1.0 / std::sqrt(144.0));
  EXPECT_LE(stats_of(conv.bias).max_abs, 1.0 / std::sqrt(144.0));
}

TEST(Init, EmptyTensorsAreANoOp) {
  Tensor w = Tensor::empty({0, 4});
  init::kaiming_normal_(w);
  init::xavier_uniform_(w);
  init::normal_(w);
  EXPECT_EQ(w.numel(), 0);
}

}  // namespace
}  // namespace ff::nn
