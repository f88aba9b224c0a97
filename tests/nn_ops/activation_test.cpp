// relu, prelu and dropout: forward values, gradients, masks, dtypes and error messages.
#include <cmath>
#include <limits>

#include "ops/activation/activation.h"
#include "ops/elementwise/binary.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/random.h"
#include "tests/common/test_assertions.h"

namespace ff {
namespace {

using testing::all_close;
using testing::host;
using testing::throws_error_with;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- relu ------------------------------------------------------------------------------------------------
TEST(Relu, ValuesGradientAndNaN) {
  Tensor x = tensor_from(std::vector<double>{-2.0, -0.0, 0.0, 0.5, 3.0, kNaN}, {2, 3}).set_requires_grad(true);
  Tensor y = relu(x);
  EXPECT_TRUE(all_close(host(y), {0.0, 0.0, 0.0, 0.5, 3.0, kNaN}, 0.0));
  sum(y).backward();
  // The gradient at exactly 0 is 0; a NaN output passes the gradient so it stays visible.
  EXPECT_TRUE(all_close(host(x.grad()), {0.0, 0.0, 0.0, 1.0, 1.0, 1.0}, 0.0));
}

TEST(Relu, NonContiguousAndHalf) {
  Generator g(1);
  Tensor base = randn({4, 6}, DType::Float32, Device(), &g);
  Tensor x = base.t().slice(0, 0, 6, 2);
  Tensor y = relu(x);
  std::vector<double> expected = host(x);
  for (double& v : expected) v = v > 0 ? v : 0.0;
  EXPECT_TRUE(all_close(host(y), expected, 0.0));
  // fp16/bf16 relu is exact: it only selects values.
  for (DType dt : {DType::Float16, DType::BFloat16}) {
    Tensor x16 = x.to(dt);
    EXPECT_TRUE(all_close(relu(x16), relu(x16.to(DType::Float32)), 0.0)) << dtype_name(dt);
  }
}

// ---- prelu -----------------------------------------------------------------------------------------------
TEST(Prelu, PerChannelValuesAndGradients) {
  // x [2, 3, 2]; weight per channel {0.1, 0.2, 0.3}.
  const std::vector<double> xv{-1, 2, -3, 4, -5, -6, 7, -8, 9, -10, 11, 12};
  Tensor x = tensor_from(xv, {2, 3, 2}).set_requires_grad(true);
  Tensor w = tensor_from(std::vector<double>{0.1, 0.2, 0.3}, {3}).set_requires_grad(true);
  Tensor y = prelu(x, w);
  std::vector<double> expected, grad_x_expected;
  double grad_w_expected[3] = {0, 0, 0};
  for (int i = 0; i < 12; ++i) {
    const int c = (i / 2) % 3;
    const double wc = 0.1 * (c + 1);
    expected.push_back(xv[i] > 0 ? xv[i] : wc * xv[i]);
    grad_x_expected.push_back(xv[i] > 0 ? 1.0 : wc);
    if (xv[i] <= 0) grad_w_expected[c] += xv[i];  // summed over N and spatial
  }
  EXPECT_TRUE(all_close(host(y), expected, 1e-15));
  sum(y).backward();
  EXPECT_TRUE(all_close(host(x.grad()), grad_x_expected, 1e-15));
  EXPECT_TRUE(all_close(host(w.grad()), {grad_w_expected[0], grad_w_expected[1], grad_w_expected[2]}, 1e-12));
  EXPECT_DOUBLE_EQ(grad_w_expected[0], -1.0 - 8.0);  // the hand count: channel 0 holds -1, 2, 7, -8
}

TEST(Prelu, SharedWeightAndLargeTensorWeightGradient) {
  // Shared weight over a tensor big enough to be split across threads: grad_w = sum of negatives.
  Generator g(2);
  Tensor x = randn({4, 5, 60, 61}, DType::Float64, Device(), &g);  // 18 runs of 4096: 3 thread chunks
  Tensor w = full({1}, 0.25, DType::Float64).set_requires_grad(true);
  Tensor y = prelu(x, w);
  const std::vector<double> xv = host(x), yv = host(y);
  double negatives = 0.0;
  for (size_t i = 0; i < xv.size(); ++i) {
    ASSERT_DOUBLE_EQ(yv[i], xv[i] > 0 ? xv[i] : 0.25 * xv[i]) << i;
    if (xv[i] <= 0) negatives += xv[i];
  }
  sum(y).backward();
  EXPECT_NEAR(host(w.grad())[0], negatives, 1e-9);
}

TEST(Prelu, PerChannelWeightGradientOnLargeInput) {
  Generator g(3);
  Tensor x = randn({8, 6, 40, 40}, DType::Float64, Device(), &g);  // 48 rows of 1600: 3 thread chunks
  Tensor w = uniform({6}, 0.1, 0.5, DType::Float64, Device(), &g).set_requires_grad(true);
  sum(prelu(x, w)).backward();
  const std::vector<double> xv = host(x);
  std::vector<double> expected(6, 0.0);
  for (size_t i = 0; i < xv.size(); ++i) {
    if (xv[i] <= 0) expected[(i / 1600) % 6] += xv[i];
  }
  EXPECT_TRUE(all_close(host(w.grad()), expected, 1e-9));
}

TEST(Prelu, NonContiguousMixedDtypeAndHalf) {
  Generator g(4);
  Tensor base = randn({5, 3, 4}, DType::Float32, Device(), &g);
  Tensor x = base.permute({2, 1, 0});  // [4, 3, 5]
  Tensor w = tensor_from(std::vector<double>{0.1, 0.2, 0.3}, {3});  // float64 weight, float32 input
  Tensor y = prelu(x, w);
  EXPECT_EQ(y.dtype(), DType::Float32);
  EXPECT_TRUE(all_close(y, prelu(x.contiguous(), w.to(DType::Float32)), 0.0));
  // 16-bit: w * x rounds once; |y| < ~4, so within 2^-11 * 4 (fp16) and 2^-8 * 4 (bf16).
  for (auto [dt, tol] : {std::pair{DType::Float16, 2e-3}, std::pair{DType::BFloat16, 1.6e-2}}) {
    Tensor x16 = x.to(dt);
    EXPECT_TRUE(all_close(prelu(x16, w), prelu(x16.to(DType::Float32), w), tol)) << dtype_name(dt);
  }
}

TEST(Prelu, BadInputsNameShapes) {
  EXPECT_TRUE(throws_error_with([] { prelu(zeros({2, 4, 3}), ones({3})); },
                          {"prelu", "float32[3]", "float32[2, 4, 3]", "4 channels"}));
  EXPECT_TRUE(throws_error_with([] { prelu(zeros({5}), ones({5})); }, {"no channel dim", "float32[5]"}));
  EXPECT_TRUE(throws_error_with([] { prelu(zeros({2, 3}), ones({3, 1})); }, {"[C]", "float32[3, 1]"}));
  EXPECT_TRUE(throws_error_with([] { prelu(zeros({2, 3}), Tensor()); }, {"prelu", "weight"}));
}

// ---- dropout ---------------------------------------------------------------------------------------------
TEST(Dropout, ReproducibleForAFixedSeedAndAdvancesTheGenerator) {
  Tensor x = ones({64, 33});
  Generator g1(123), g2(123), g3(124);
  Tensor a = dropout(x, 0.5, true, &g1), b = dropout(x, 0.5, true, &g2), c = dropout(x, 0.5, true, &g3);
  EXPECT_TRUE(all_close(a, b, 0.0));
  EXPECT_FALSE(all_close(a, c, 0.0)) << "different seeds gave the same mask";
  EXPECT_EQ(g1.offset(), static_cast<uint64_t>((64 * 33 + 3) / 4));
  Tensor a2 = dropout(x, 0.5, true, &g1);  // the next call draws fresh counters
  EXPECT_FALSE(all_close(a, a2, 0.0));
}

TEST(Dropout, DropFractionAndScale) {
  const double p = 0.3;
  Generator g(5);
  Tensor y = dropout(full({200000}, 2.0), p, true, &g);
  const std::vector<double> v = host(y);
  int64_t dropped = 0;
  for (double e : v) {
    if (e == 0.0) {
      ++dropped;
    } else {
      ASSERT_NEAR(e, 2.0 / (1.0 - p), 1e-6);
    }
  }
  // Binomial std is sqrt(p (1-p) / n) ~ 0.001: 0.006 is six standard deviations.
  EXPECT_NEAR(static_cast<double>(dropped) / static_cast<double>(v.size()), p, 6e-3);
}

TEST(Dropout, MaskIsRandOfTheSameGeneratorStateThresholdedAtP) {
  // The documented contract that lets CUDA reproduce CPU masks: keep_i = (rand_i >= p).
  const double p = 0.37;
  Generator g_drop(99), g_rand(99);
  g_drop.set_offset(1000), g_rand.set_offset(1000);
  Tensor y = dropout(ones({7, 13}), p, true, &g_drop);
  const std::vector<double> u = host(rand({7, 13}, DType::Float32, Device(), &g_rand));
  const std::vector<double> yv = host(y);
  for (size_t i = 0; i < u.size(); ++i) EXPECT_EQ(yv[i] != 0.0, u[i] >= p) << "element " << i;
}

TEST(Dropout, BackwardUsesTheSameMask) {
  Generator g(6);
  Tensor x = uniform({10, 9}, 1.0, 2.0, DType::Float64, Device(), &g).set_requires_grad(true);
  Tensor y = dropout(x, 0.4, true, &g);
  Tensor upstream = uniform({10, 9}, -1.0, 1.0, DType::Float64, Device(), &g);
  sum(mul(y, upstream)).backward();
  const std::vector<double> xv = host(x), yv = host(y), gv = host(x.grad()), uv = host(upstream);
  for (size_t i = 0; i < xv.size(); ++i) {
    const bool kept = yv[i] != 0.0;
    EXPECT_NEAR(gv[i], kept ? uv[i] / 0.6 : 0.0, 1e-12) << "element " << i;
  }
}

TEST(Dropout, NonContiguousInputUsesRowMajorOrderOfItsView) {
  Generator g1(8), g2(8);
  Tensor base = uniform({6, 4}, 1.0, 2.0, DType::Float32, Device(), &g1);
  Tensor x = base.t();
  g1.set_offset(0);
  EXPECT_TRUE(all_close(dropout(x, 0.5, true, &g1), dropout(x.contiguous(), 0.5, true, &g2), 0.0));
}

TEST(Dropout, IdentityInEvalOrWithZeroP) {
  Tensor x = ones({3, 4});
  EXPECT_TRUE(dropout(x, 0.5, false).is_same(x));
  EXPECT_TRUE(dropout(x, 0.0, true).is_same(x));
}

TEST(Dropout, HalfMaskMatchesFloat32) {
  Generator g1(9), g2(9);
  Tensor x = uniform({50, 20}, -2.0, 2.0, DType::Float32, Device(), &g1);
  g1.set_offset(0);
  for (DType dt : {DType::Float16, DType::BFloat16}) {
    g1.set_offset(0), g2.set_offset(0);
    Tensor x16 = x.to(dt);
    // Same mask; scaling by 1/(1-p) = 2 is exact in every format.
    EXPECT_TRUE(all_close(dropout(x16, 0.5, true, &g1), dropout(x16.to(DType::Float32), 0.5, true, &g2), 0.0))
        << dtype_name(dt);
  }
}

TEST(Dropout, InvalidProbabilityIsRejected) {
  Tensor x = ones({2});
  EXPECT_TRUE(throws_error_with([&] { dropout(x, 1.0, true); }, {"dropout", "[0, 1)", "1"}));
  EXPECT_TRUE(throws_error_with([&] { dropout(x, -0.1, true); }, {"dropout", "-0.1"}));
  EXPECT_TRUE(throws_error_with([&] { dropout(x, kNaN, false); }, {"dropout", "nan"}));
  EXPECT_TRUE(throws_error_with([&] { dropout(zeros({2}, DType::Int64), 0.5, true); }, {"dropout", "int64[2]"}));
}

}  // namespace
}  // namespace ff
