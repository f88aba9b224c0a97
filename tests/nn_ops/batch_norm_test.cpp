// batch_norm forward values, running statistics, dtypes, layouts and error messages.
#include <cmath>

#include "framework/autograd/autograd.h"
#include "ops/elementwise/binary.h"
#include "ops/norm/batch_norm.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/random.h"
#include "tests/common/test_assertions.h"

namespace ff {
namespace {

using testing::all_close;
using testing::host;
using testing::throws_error_with;

// Naive reference: per-channel biased statistics over N and spatial, in double.
struct Reference {
  std::vector<double> out, mean, biased_var;
};

Reference naive_batch_norm(const Tensor& x, const std::vector<double>& w, const std::vector<double>& b, double eps) {
  const std::vector<double> v = host(x.contiguous());
  const int64_t n = x.size(0), c = x.size(1), s = x.numel() / (n * c);
  Reference r{std::vector<double>(v.size()), std::vector<double>(c), std::vector<double>(c)};
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < s; ++k) sum += v[(i * c + ch) * s + k];
    const double mean = sum / static_cast<double>(n * s);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < s; ++k) sq += std::pow(v[(i * c + ch) * s + k] - mean, 2);
    const double var = sq / static_cast<double>(n * s);
    r.mean[ch] = mean;
    r.biased_var[ch] = var;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < s; ++k) {
        const int64_t idx = (i * c + ch) * s + k;
        r.out[idx] = (v[idx] - mean) / std::sqrt(var + eps) * (w.empty() ? 1.0 : w[ch]) + (b.empty() ? 0.0 : b[ch]);
      }
  }
  return r;
}

TEST(BatchNorm, TrainOutputHasZeroMeanAndUnitVariancePerChannel) {
  Generator g(1);
  Tensor x = add(mul(randn({8, 3, 4, 5}, DType::Float32, Device(), &g), 3.0), 2.0);
  Tensor y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), /*training=*/true);
  Tensor y64 = y.to(DType::Float64);
  const std::vector<double> mean = host(ff::mean(y64, {0, 2, 3}));
  const std::vector<double> var = host(ff::mean(mul(y64, y64), {0, 2, 3}));
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(mean[c], 0.0, 1e-5) << "channel " << c;
    EXPECT_NEAR(var[c], 1.0, 1e-4) << "channel " << c;  // var / (var + eps) with var ~ 9
  }
}

TEST(BatchNorm, MatchesNaiveReferenceForEveryLayout) {
  for (const Shape& shape : std::vector<Shape>{{6, 4}, {3, 4, 7}, {2, 4, 3, 5}}) {
    Generator g(2);
    Tensor x = normal(shape, 0.5, 2.0, DType::Float64, Device(), &g);
    const std::vector<double> w{0.5, 1.5, -1.0, 2.0}, b{0.1, -0.2, 0.3, 0.0};
    const Reference ref = naive_batch_norm(x, w, b, 1e-5);
    Tensor y = batch_norm(x, tensor_from(w, {4}), tensor_from(b, {4}), Tensor(), Tensor(), true);
    EXPECT_TRUE(all_close(host(y), ref.out, 1e-12, 1e-12)) << shape_str(shape);
    EXPECT_EQ(y.sizes(), shape);
  }
}

TEST(BatchNorm, ManyChannelsSplitAcrossThreadsMatchNaive) {
  // 48 channels of 4 * 16 * 16 values: several channel chunks per thread.
  Generator g(6);
  Tensor x = normal({4, 48, 16, 16}, -1.0, 0.5, DType::Float64, Device(), &g);
  Tensor rm = zeros({48}, DType::Float64), rv = ones({48}, DType::Float64);
  const Reference ref = naive_batch_norm(x, {}, {}, 1e-5);
  EXPECT_TRUE(all_close(host(batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.1)), ref.out, 1e-12, 1e-12));
  std::vector<double> expected_rm, expected_rv;
  for (int c = 0; c < 48; ++c) {
    expected_rm.push_back(0.1 * ref.mean[c]);
    expected_rv.push_back(0.9 + 0.1 * ref.biased_var[c] * 1024.0 / 1023.0);
  }
  EXPECT_TRUE(all_close(host(rm), expected_rm, 1e-14, 1e-12));
  EXPECT_TRUE(all_close(host(rv), expected_rv, 1e-14, 1e-12));
}

TEST(BatchNorm, RunningStatsAfterOneStepMatchHandComputedValues) {
  // channel 0: {1, 2, 3, 4}: mean 2.5, unbiased var 5/3; channel 1: {0, 0, 2, 6}: mean 2, unbiased var 8.
  Tensor x = tensor_from(std::vector<float>{1, 0, 2, 0, 3, 2, 4, 6}, {4, 2});
  Tensor running_mean = tensor_from(std::vector<float>{0.0f, 1.0f}, {2});
  Tensor running_var = tensor_from(std::vector<float>{1.0f, 2.0f}, {2});
  const uint64_t mean_version = running_mean.version(), var_version = running_var.version();
  batch_norm(x, Tensor(), Tensor(), running_mean, running_var, true, /*momentum=*/0.1);
  EXPECT_TRUE(all_close(host(running_mean), {0.9 * 0.0 + 0.1 * 2.5, 0.9 * 1.0 + 0.1 * 2.0}, 1e-6));
  EXPECT_TRUE(all_close(host(running_var), {0.9 * 1.0 + 0.1 * (5.0 / 3.0), 0.9 * 2.0 + 0.1 * 8.0}, 1e-6));
  EXPECT_GT(running_mean.version(), mean_version);
  EXPECT_GT(running_var.version(), var_version);

  // momentum 1 replaces the statistics; momentum 0 keeps them.
  batch_norm(x, Tensor(), Tensor(), running_mean, running_var, true, 1.0);
  EXPECT_TRUE(all_close(host(running_mean), {2.5, 2.0}, 1e-6));
  EXPECT_TRUE(all_close(host(running_var), {5.0 / 3.0, 8.0}, 1e-5));
  batch_norm(x, Tensor(), Tensor(), running_mean, running_var, true, 0.0);
  EXPECT_TRUE(all_close(host(running_var), {5.0 / 3.0, 8.0}, 1e-5));
}

TEST(BatchNorm, SpatialRunningVarUsesUnbiasedCountOverBatchAndSpace) {
  // [2, 1, 3]: six values per channel, unbiased divisor 5.
  Tensor x = tensor_from(std::vector<double>{1, 2, 3, 4, 5, 9}, {2, 1, 3});
  Tensor rm = zeros({1}, DType::Float64), rv = ones({1}, DType::Float64);
  batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.5);
  const double mean = 4.0, unbiased = (9 + 4 + 1 + 0 + 1 + 25) / 5.0;
  EXPECT_NEAR(host(rm)[0], 0.5 * mean, 1e-12);
  EXPECT_NEAR(host(rv)[0], 0.5 + 0.5 * unbiased, 1e-12);
}

TEST(BatchNorm, EvalUsesRunningStatsAndLeavesThemAlone) {
  Tensor x = tensor_from(std::vector<double>{1, -1, 4, 2, 0, 3}, {3, 2});
  Tensor rm = tensor_from(std::vector<double>{0.5, -0.5}, {2});
  Tensor rv = tensor_from(std::vector<double>{4.0, 0.25}, {2});
  Tensor w = tensor_from(std::vector<double>{2.0, 1.0}, {2}), b = tensor_from(std::vector<double>{0.0, 1.0}, {2});
  const double eps = 1e-5;
  Tensor y = batch_norm(x, w, b, rm, rv, /*training=*/false, 0.1, eps);
  std::vector<double> expected;
  const std::vector<double> xv = host(x);
  for (int i = 0; i < 3; ++i) {
    expected.push_back((xv[2 * i] - 0.5) / std::sqrt(4.0 + eps) * 2.0 + 0.0);
    expected.push_back((xv[2 * i + 1] + 0.5) / std::sqrt(0.25 + eps) * 1.0 + 1.0);
  }
  EXPECT_TRUE(all_close(host(y), expected, 1e-12, 1e-12));
  EXPECT_TRUE(all_close(host(rm), {0.5, -0.5}, 0.0));
  EXPECT_TRUE(all_close(host(rv), {4.0, 0.25}, 0.0));
}

TEST(BatchNorm, TrainingWithoutRunningStatsStillNormalises) {
  Tensor x = tensor_from(std::vector<double>{1, 2, 3, 4}, {4, 1});
  Tensor y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 0.0);
  const double s = std::sqrt(1.25);
  EXPECT_TRUE(all_close(host(y), {-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s}, 1e-12));
}

TEST(BatchNorm, ForeignDtypeAndStridedRunningStatsAreUpdatedInPlace) {
  // float32 input with float64 running stats, and running stats that are stride-2 views.
  Tensor x = tensor_from(std::vector<float>{1, 0, 2, 0, 3, 2, 4, 6}, {4, 2});
  Tensor rm64 = zeros({2}, DType::Float64), rv64 = ones({2}, DType::Float64);
  batch_norm(x, Tensor(), Tensor(), rm64, rv64, true, 0.1);
  EXPECT_TRUE(all_close(host(rm64), {0.25, 0.2}, 1e-6));
  Tensor storage = zeros({4});
  Tensor rm = storage.slice(0, 0, 4, 2), rv = ones({4}).slice(0, 1, 4, 2);
  batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.1);
  EXPECT_TRUE(all_close(host(storage), {0.25, 0.0, 0.2, 0.0}, 1e-6));
  EXPECT_TRUE(all_close(host(rv), {0.9 + 0.1 * 5.0 / 3.0, 0.9 + 0.8}, 1e-5));
}

TEST(BatchNorm, NonContiguousInputMatchesContiguous) {
  Generator g(3);
  Tensor base = randn({5, 3, 4}, DType::Float32, Device(), &g);
  Tensor x = base.permute({2, 1, 0});  // [4, 3, 5], C = 3
  ASSERT_FALSE(x.is_contiguous());
  Tensor w = tensor_from(std::vector<float>{1.0f, 0.5f, 2.0f, 9.0f, 9.0f, 9.0f}, {6}).slice(0, 0, 3);
  Tensor a = batch_norm(x, w, Tensor(), Tensor(), Tensor(), true);
  Tensor b = batch_norm(x.contiguous(), w.contiguous(), Tensor(), Tensor(), Tensor(), true);
  EXPECT_TRUE(all_close(a, b, 0.0));
}

TEST(BatchNorm, HalfAndBFloat16MatchFloat32) {
  // 16-bit inputs compute in float with float32 statistics: the error is the rounding of x and
  // of the output (|y| <~ 4): fp16 (2^-11 relative) within 1e-2, bf16 (2^-8) within 5e-2.
  Generator g(4);
  Tensor x = normal({6, 4, 3, 3}, 1.0, 2.0, DType::Float32, Device(), &g);
  Tensor w = uniform({4}, 0.5, 1.5, DType::Float32, Device(), &g), b = uniform({4}, -0.5, 0.5, DType::Float32, Device(), &g);
  for (auto [dt, tol] : {std::pair{DType::Float16, 1e-2}, std::pair{DType::BFloat16, 5e-2}}) {
    Tensor x16 = x.to(dt);
    Tensor ref = batch_norm(x16.to(DType::Float32), w, b, Tensor(), Tensor(), true);
    Tensor rm = zeros({4}), rv = ones({4});
    Tensor y = batch_norm(x16, w, b, rm, rv, true);  // float32 params with a 16-bit input
    EXPECT_EQ(y.dtype(), dt);
    EXPECT_TRUE(all_close(y, ref, tol)) << dtype_name(dt);
    // 16-bit params are accepted too and give the same result up to their own rounding.
    Tensor y2 = batch_norm(x16, w.to(dt), b.to(dt), Tensor(), Tensor(), true);
    EXPECT_TRUE(all_close(y2, ref, 2 * tol)) << dtype_name(dt);
    // Gradients flow back in each input's dtype.
    Tensor xl = x16.detach().set_requires_grad(true);
    Tensor wl = w.to(dt).detach().set_requires_grad(true);
    sum(batch_norm(xl, wl, Tensor(), Tensor(), Tensor(), true).to(DType::Float32)).backward();
    EXPECT_EQ(xl.grad().dtype(), dt);
    EXPECT_EQ(wl.grad().dtype(), dt);
  }
}

TEST(BatchNorm, BackwardMatchesClosedFormForSumOfSquares) {
  // L = sum(y^2) / 2 with y = batch_norm(x) (no affine, eps 0): dL/dy = y, and since
  // sum(y) = 0 and sum(y^2) = M per channel, grad_x = invstd * (y - 0 - y * M / M) = 0.
  Generator g(5);
  Tensor x = randn({5, 2, 3}, DType::Float64, Device(), &g).set_requires_grad(true);
  Tensor w = ones({2}, DType::Float64).set_requires_grad(true);
  Tensor y = batch_norm(x, w, Tensor(), Tensor(), Tensor(), true, 0.1, 0.0);
  sum(mul(mul(y, y), 0.5)).backward();
  EXPECT_TRUE(all_close(host(x.grad()), std::vector<double>(30, 0.0), 1e-12));
  // grad_weight = sum(dy * xhat) = sum(y^2) = M = 15 per channel.
  EXPECT_TRUE(all_close(host(w.grad()), {15.0, 15.0}, 1e-10));
}

TEST(BatchNorm, EvalSingleSampleIsAllowed) {
  Tensor x = tensor_from(std::vector<float>{1.0f, 2.0f}, {1, 2});
  Tensor y = batch_norm(x, Tensor(), Tensor(), zeros({2}), ones({2}), false, 0.1, 0.0);
  EXPECT_TRUE(all_close(host(y), {1.0, 2.0}, 1e-6));
}

TEST(BatchNorm, BadInputsNameShapesAndValues) {
  Tensor x = zeros({2, 4, 3});
  EXPECT_TRUE(throws_error_with([&] { batch_norm(x, ones({3}), Tensor(), Tensor(), Tensor(), true); },
                          {"batch_norm", "weight", "[4]", "float32[3]", "float32[2, 4, 3]"}));
  EXPECT_TRUE(throws_error_with([&] { batch_norm(x, Tensor(), zeros({4, 1}), Tensor(), Tensor(), true); },
                          {"bias", "float32[4, 1]"}));
  EXPECT_TRUE(throws_error_with([&] { batch_norm(x, Tensor(), Tensor(), zeros({5}), ones({5}), true); },
                          {"running_mean", "[4]", "float32[5]"}));
  EXPECT_TRUE(throws_error_with([&] { batch_norm(x, Tensor(), Tensor(), zeros({4}), Tensor(), true); },
                          {"running_mean and running_var"}));
  EXPECT_TRUE(throws_error_with([&] { batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false); },
                          {"eval", "running_mean", "float32[2, 4, 3]"}));
  EXPECT_TRUE(throws_error_with([&] { batch_norm(zeros({1, 4}), Tensor(), Tensor(), Tensor(), Tensor(), true); },
                          {"expected more than 1 value per channel", "float32[1, 4]"}));
  EXPECT_TRUE(throws_error_with([&] { batch_norm(zeros({1, 4, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true); },
                          {"expected more than 1 value per channel", "float32[1, 4, 1, 1]"}));
  EXPECT_TRUE(throws_error_with([&] { batch_norm(zeros({4}), Tensor(), Tensor(), Tensor(), Tensor(), true); },
                          {"[N, C]", "float32[4]"}));
  EXPECT_TRUE(throws_error_with([&] { batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 1.5); },
                          {"momentum", "1.5"}));
  EXPECT_TRUE(throws_error_with([&] { batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, -1.0); },
                          {"eps", "-1"}));
  EXPECT_TRUE(throws_error_with([&] { batch_norm(zeros({2, 4}, DType::Int64), Tensor(), Tensor(), Tensor(), Tensor(), true); },
                          {"floating", "int64[2, 4]"}));
  Tensor grad_buffer = zeros({4}).set_requires_grad(true);
  EXPECT_TRUE(throws_error_with([&] { batch_norm(x, Tensor(), Tensor(), grad_buffer, ones({4}), true); },
                          {"must not require grad"}));
}

TEST(BatchNorm, InPlaceChangeOfSavedInputIsDetected) {
  Tensor x = randn({4, 2}, DType::Float64).set_requires_grad(true);
  Tensor xin = mul(x, 1.0);  // a non-leaf we can modify in place under no-grad
  Tensor y = batch_norm(xin, Tensor(), Tensor(), Tensor(), Tensor(), true);
  {
    autograd::NoGradGuard no_grad;
    xin.fill_(1.0);
  }
  EXPECT_TRUE(throws_error_with([&] { sum(y).backward(); }, {"batch_norm_backward", "modified by an in-place operation"}));
}

}  // namespace
}  // namespace ff
