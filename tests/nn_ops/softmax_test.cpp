// softmax, log_softmax and cross_entropy: values against naive loops and hand-computed numbers,
// stability, dtypes, layouts, non-finite inputs and error messages.
#include <cmath>
#include <limits>

#include "ops/elementwise/binary.h"
#include "ops/reduce/reduce.h"
#include "ops/softmax/softmax.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/random.h"
#include "tests/common/test_assertions.h"
#include "tests/nn_ops/nn_ops_test_util.h"

namespace ff {
namespace {

using testing::all_close;
using testing::host;
using testing::throws_error_with;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Naive softmax along `dim`, in long double.
std::vector<double> naive_softmax(const Tensor& x, int64_t dim, bool log) {
  return testing::naive_along_dim(x, dim, [log](const std::vector<double>& slice) {
    long double m = -INFINITY, s = 0;
    for (const double v : slice) m = std::max<long double>(m, v);
    for (const double v : slice) s += std::exp(static_cast<long double>(v) - m);
    std::vector<double> out;
    for (const double v : slice) {
      const long double z = v - m;
      out.push_back(static_cast<double>(log ? z - std::log(s) : std::exp(z) / s));
    }
    return out;
  });
}

TEST(Softmax, RowsSumToOneAndMatchNaive) {
  Generator g(1);
  Tensor x = normal({4, 7}, 0.0, 3.0, DType::Float64, Device(), &g);
  Tensor y = softmax(x, 1);
  EXPECT_TRUE(all_close(host(sum(y, {1})), std::vector<double>(4, 1.0), 1e-14));
  EXPECT_TRUE(all_close(host(y), naive_softmax(x, 1, false), 1e-15, 1e-13));
  EXPECT_TRUE(all_close(host(log_softmax(x, 1)), naive_softmax(x, 1, true), 1e-13, 1e-13));
  EXPECT_TRUE(all_close(host(softmax(x, -1)), host(y), 0.0));
}

TEST(Softmax, EveryDimIncludingWideInnerBlocks) {
  // dim 0/1 of [3, 5, 70] has inner sizes 350 and 70: exercises the 64-wide row blocks.
  Generator g(2);
  Tensor x = normal({3, 5, 70}, 0.0, 2.0, DType::Float64, Device(), &g);
  for (int64_t dim : {0, 1, 2}) {
    EXPECT_TRUE(all_close(host(softmax(x, dim)), naive_softmax(x, dim, false), 1e-15, 1e-12)) << "dim " << dim;
    EXPECT_TRUE(all_close(host(log_softmax(x, dim)), naive_softmax(x, dim, true), 1e-12, 1e-12)) << "dim " << dim;
  }
}

TEST(Softmax, LargeLogitsDoNotOverflow) {
  Tensor x = tensor_from(std::vector<float>{1000.0f, 1001.0f, 1002.0f, -1000.0f, -1001.0f, -1002.0f}, {2, 3});
  const double s = 1 + std::exp(-1.0) + std::exp(-2.0);
  EXPECT_TRUE(all_close(host(softmax(x, 1)), {std::exp(-2.0) / s, std::exp(-1.0) / s, 1 / s, 1 / s,
                                              std::exp(-1.0) / s, std::exp(-2.0) / s},
                        1e-6));
  EXPECT_TRUE(all_close(host(log_softmax(x, 1)), {-2 - std::log(s), -1 - std::log(s), -std::log(s), -std::log(s),
                                                  -1 - std::log(s), -2 - std::log(s)},
                        1e-5));
}

TEST(Softmax, NonFiniteRowsBecomeNaNWithoutTouchingOtherRows) {
  // Row 0: a NaN; row 1: +inf; row 2: all -inf -> NaN (like PyTorch). Row 3: one -inf -> probability 0.
  Tensor x = tensor_from(std::vector<double>{1, kNaN, 0, 1, kInf, 0, -kInf, -kInf, -kInf, 0, -kInf, 0}, {4, 3});
  const std::vector<double> y = host(softmax(x, 1));
  for (int i = 0; i < 9; ++i) EXPECT_TRUE(std::isnan(y[i])) << "element " << i;
  EXPECT_TRUE(all_close({y[9], y[10], y[11]}, {0.5, 0.0, 0.5}, 1e-15));
  const std::vector<double> ly = host(log_softmax(x, 1));
  EXPECT_TRUE(all_close({ly[9], ly[10], ly[11]}, {-std::log(2.0), -kInf, -std::log(2.0)}, 1e-15));
}

TEST(Softmax, NonContiguousAndScalar) {
  Generator g(3);
  Tensor base = randn({6, 5}, DType::Float32, Device(), &g);
  Tensor x = base.t().slice(1, 1, 6, 2);  // [5, 3], strided
  EXPECT_TRUE(all_close(softmax(x, 1), softmax(x.contiguous(), 1), 0.0));
  EXPECT_TRUE(all_close(log_softmax(x, 0), log_softmax(x.contiguous(), 0), 0.0));
  EXPECT_TRUE(all_close(host(softmax(full({}, 3.0), 0)), {1.0}, 0.0));
}

TEST(Softmax, HalfAndBFloat16MatchFloat32) {
  // Computed in float from the 16-bit values; only the output rounding differs. Probabilities
  // are <= 1 (fp16 2^-11, bf16 2^-8 relative); log-probabilities here are >= -12.
  Generator g(4);
  Tensor x = normal({8, 33}, 0.0, 2.0, DType::Float32, Device(), &g);
  for (auto [dt, tol] : {std::pair{DType::Float16, 5e-4}, std::pair{DType::BFloat16, 4e-3}}) {
    Tensor x16 = x.to(dt);
    Tensor ref = x16.to(DType::Float32);
    EXPECT_TRUE(all_close(softmax(x16, 1), softmax(ref, 1), tol)) << dtype_name(dt);
    EXPECT_TRUE(all_close(log_softmax(x16, 1), log_softmax(ref, 1), 0.0, 2 * tol)) << dtype_name(dt);
  }
}

TEST(Softmax, BackwardOfSoftmaxAndLogSoftmax) {
  // d/dx sum(w * softmax(x)) = y * (w - <w, y>); d/dx sum(w * log_softmax(x)) = w - y * sum(w).
  Tensor x = tensor_from(std::vector<double>{0.5, -1.0, 2.0}, {1, 3}).set_requires_grad(true);
  Tensor w = tensor_from(std::vector<double>{1.0, 2.0, -1.0}, {1, 3});
  const std::vector<double> y = naive_softmax(x, 1, false);
  const double dot = y[0] * 1 + y[1] * 2 - y[2];
  sum(mul(softmax(x, 1), w)).backward();
  EXPECT_TRUE(all_close(host(x.grad()), {y[0] * (1 - dot), y[1] * (2 - dot), y[2] * (-1 - dot)}, 1e-15));
  x.zero_grad();
  sum(mul(log_softmax(x, 1), w)).backward();
  EXPECT_TRUE(all_close(host(x.grad()), {1 - 2 * y[0], 2 - 2 * y[1], -1 - 2 * y[2]}, 1e-15));
}

TEST(Softmax, BadDimNamesTheOp) {
  EXPECT_TRUE(throws_error_with([] { softmax(zeros({2, 3}), 2); }, {"softmax", "dim 2", "2 dims"}));
  EXPECT_TRUE(throws_error_with([] { log_softmax(zeros({2, 3}), -3); }, {"log_softmax", "dim -3"}));
  EXPECT_TRUE(throws_error_with([] { softmax(zeros({2, 3}, DType::Int32), 1); }, {"softmax", "int32[2, 3]"}));
}

// ---- cross_entropy ---------------------------------------------------------------------------------------
// logits [[1, 2, 3], [1, 0, -1]], targets [2, 0]:
//   loss_0 = log(e + e^2 + e^3) - 3 = log(1 + e^-1 + e^-2)
//   loss_1 = log(e + 1 + e^-1) - 1  = log(1 + e^-1 + e^-2)   (the same, by symmetry)
const double kHandLoss = std::log(1.0 + std::exp(-1.0) + std::exp(-2.0));

TEST(CrossEntropy, HandComputed2x3) {
  Tensor logits = tensor_from(std::vector<double>{1, 2, 3, 1, 0, -1}, {2, 3});
  Tensor target = tensor_from(std::vector<int64_t>{2, 0}, {2});
  EXPECT_NEAR(cross_entropy(logits, target).item<double>(), kHandLoss, 1e-15);
  EXPECT_NEAR(cross_entropy(logits, target, Reduction::Sum).item<double>(), 2 * kHandLoss, 1e-15);
  Tensor none = cross_entropy(logits, target, Reduction::None);
  EXPECT_EQ(none.sizes(), (Shape{2}));
  EXPECT_TRUE(all_close(host(none), {kHandLoss, kHandLoss}, 1e-15));
  // A different target: row 0 -> class 0: log(1 + e + e^2) - 1 + 3 - 3 = log(e + e^2 + e^3) - 1.
  Tensor t2 = tensor_from(std::vector<int64_t>{0, 0}, {2});
  EXPECT_TRUE(all_close(host(cross_entropy(logits, t2, Reduction::None)), {kHandLoss + 2.0, kHandLoss}, 1e-14));
}

TEST(CrossEntropy, MatchesLogSoftmaxPickAndFloat32Int32) {
  Generator g(5);
  Tensor logits = normal({9, 11}, 0.0, 3.0, DType::Float32, Device(), &g);
  const std::vector<int64_t> t{0, 10, 5, 5, 3, 2, 9, 1, 7};
  const std::vector<double> lsm = host(log_softmax(logits, 1));
  std::vector<double> expected;
  for (int i = 0; i < 9; ++i) expected.push_back(-lsm[i * 11 + t[i]]);
  Tensor t64 = tensor_from(t, {9});
  Tensor t32 = cast(t64, DType::Int32);
  EXPECT_TRUE(all_close(host(cross_entropy(logits, t64, Reduction::None)), expected, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(cross_entropy(logits, t32, Reduction::None), cross_entropy(logits, t64, Reduction::None), 0.0));
  EXPECT_TRUE(all_close(cross_entropy(logits, t32), cross_entropy(logits, t64), 0.0));
}

TEST(CrossEntropy, LargeBatchSplitAcrossThreadsMatchesLogSoftmaxPick) {
  Generator g(8);
  const int64_t rows = 3000, classes = 50;
  Tensor logits = normal({rows, classes}, 0.0, 4.0, DType::Float64, Device(), &g).set_requires_grad(true);
  std::vector<int64_t> t(rows);
  for (int64_t i = 0; i < rows; ++i) t[i] = i % 7 == 3 ? -100 : (i * 31) % classes;
  Tensor target = tensor_from(t, {rows});
  const std::vector<double> lsm = host(log_softmax(logits.detach(), 1));
  double total = 0.0;
  int64_t counted = 0;
  std::vector<double> expected_grad(rows * classes, 0.0);
  for (int64_t i = 0; i < rows; ++i) {
    if (t[i] == -100) continue;
    total -= lsm[i * classes + t[i]];
    ++counted;
  }
  for (int64_t i = 0; i < rows; ++i) {
    if (t[i] == -100) continue;
    for (int64_t j = 0; j < classes; ++j) {
      expected_grad[i * classes + j] = (std::exp(lsm[i * classes + j]) - (j == t[i] ? 1.0 : 0.0)) / counted;
    }
  }
  Tensor loss = cross_entropy(logits, target);
  EXPECT_NEAR(loss.item<double>(), total / counted, 1e-12);
  loss.backward();
  EXPECT_TRUE(all_close(host(logits.grad()), expected_grad, 1e-15, 1e-10));
}

TEST(CrossEntropy, IgnoredRowsAreExcludedFromTheMeanAndGetNoGradient) {
  Tensor logits = tensor_from(std::vector<double>{1, 2, 3, 1, 0, -1, 5, 5, 5}, {3, 3}).set_requires_grad(true);
  Tensor target = tensor_from(std::vector<int64_t>{2, -100, 0}, {3});
  // Mean over rows 0 and 2: (kHandLoss + log 3) / 2.
  Tensor loss = cross_entropy(logits, target);
  EXPECT_NEAR(loss.item<double>(), (kHandLoss + std::log(3.0)) / 2, 1e-15);
  EXPECT_TRUE(all_close(host(cross_entropy(logits, target, Reduction::None)), {kHandLoss, 0.0, std::log(3.0)}, 1e-15));
  loss.backward();
  // grad = (softmax - onehot) / 2 on kept rows, 0 on the ignored row.
  const std::vector<double> p0 = naive_softmax(logits.detach().narrow(0, 0, 1), 1, false);
  const std::vector<double> expected{p0[0] / 2, p0[1] / 2, (p0[2] - 1) / 2, 0, 0, 0, (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6};
  EXPECT_TRUE(all_close(host(logits.grad()), expected, 1e-15));
  // A custom ignore_index.
  Tensor t7 = tensor_from(std::vector<int64_t>{7, 7, 0}, {3});
  EXPECT_NEAR(cross_entropy(logits.detach(), t7, Reduction::Mean, 7).item<double>(), std::log(3.0), 1e-15);
}

TEST(CrossEntropy, AllRowsIgnoredGivesNaNMeanAndZeroSum) {
  Tensor logits = zeros({2, 3}, DType::Float64).set_requires_grad(true);
  Tensor target = tensor_from(std::vector<int64_t>{-100, -100}, {2});
  Tensor mean_loss = cross_entropy(logits, target);
  EXPECT_TRUE(std::isnan(mean_loss.item<double>()));  // 0 / 0, as PyTorch
  EXPECT_EQ(cross_entropy(logits, target, Reduction::Sum).item<double>(), 0.0);
  mean_loss.backward();
  EXPECT_TRUE(all_close(host(logits.grad()), std::vector<double>(6, 0.0), 0.0));
}

TEST(CrossEntropy, NonFiniteLogitsShowUpInTheLoss) {
  // Row 0: NaN -> NaN. Row 1: +inf -> NaN. Row 2: target logit -inf -> +inf. Row 3: a -inf
  // elsewhere is harmless (probability 0).
  Tensor logits = tensor_from(std::vector<double>{kNaN, 0, 0, kInf, 0, 0, -kInf, 0, 0, -kInf, 0, 0}, {4, 3});
  Tensor target = tensor_from(std::vector<int64_t>{1, 1, 0, 1}, {4});
  const std::vector<double> l = host(cross_entropy(logits, target, Reduction::None));
  EXPECT_TRUE(std::isnan(l[0]));
  EXPECT_TRUE(std::isnan(l[1]));
  EXPECT_EQ(l[2], kInf);
  EXPECT_NEAR(l[3], std::log(2.0), 1e-15);
  EXPECT_TRUE(std::isnan(cross_entropy(logits, target).item<double>()));
  Tensor finite_but_inf = logits.narrow(0, 2, 2);
  EXPECT_EQ(cross_entropy(finite_but_inf, target.narrow(0, 2, 2)).item<double>(), kInf);
  // float32 behaves the same.
  EXPECT_TRUE(std::isnan(cross_entropy(logits.to(DType::Float32), target).item<double>()));
}

TEST(CrossEntropy, HalfAndBFloat16MatchFloat32) {
  // The loss is computed in float from the 16-bit logits; only its final rounding differs:
  // relative 2^-11 (fp16) and 2^-9 (bf16), checked at 1e-3 and 8e-3 against float32.
  Generator g(6);
  Tensor logits = normal({16, 40}, 0.0, 3.0, DType::Float32, Device(), &g);
  Tensor target = tensor_from(std::vector<int64_t>{0, 3, 39, 7, 8, 1, 2, 30, 31, 5, 6, 9, 10, 11, 12, 13}, {16});
  for (auto [dt, tol] : {std::pair{DType::Float16, 1e-3}, std::pair{DType::BFloat16, 8e-3}}) {
    Tensor l16 = logits.to(dt);
    Tensor ref32 = l16.to(DType::Float32);
    for (Reduction r : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
      Tensor loss = cross_entropy(l16, target, r);
      EXPECT_EQ(loss.dtype(), dt);
      EXPECT_TRUE(all_close(loss, cross_entropy(ref32, target, r), 0.0, tol)) << dtype_name(dt);
    }
    Tensor leaf16 = l16.detach().set_requires_grad(true), leaf32 = ref32.detach().set_requires_grad(true);
    cross_entropy(leaf16, target).backward();
    cross_entropy(leaf32, target).backward();
    // Gradients are (p - onehot) / 16, |g| <= 1/16: absolute tolerance from the output rounding.
    EXPECT_TRUE(all_close(leaf16.grad(), leaf32.grad(), tol / 16 * 2)) << dtype_name(dt);
  }
}

TEST(CrossEntropy, NonContiguousLogits) {
  Generator g(7);
  Tensor base = randn({5, 4}, DType::Float32, Device(), &g);
  Tensor logits = base.t();  // [4, 5]
  Tensor target = tensor_from(std::vector<int64_t>{4, 0, 2, 1}, {4});
  EXPECT_TRUE(all_close(cross_entropy(logits, target, Reduction::None),
                        cross_entropy(logits.contiguous(), target, Reduction::None), 0.0));
}

TEST(CrossEntropy, BadInputsNameRowValueAndShapes) {
  Tensor logits = zeros({3, 5});
  EXPECT_TRUE(throws_error_with([&] { cross_entropy(logits, tensor_from(std::vector<int64_t>{0, 7, 1}, {3})); },
                          {"cross_entropy", "target[1] = 7", "5 classes"}));
  EXPECT_TRUE(throws_error_with([&] { cross_entropy(logits, tensor_from(std::vector<int64_t>{0, 1, -1}, {3})); },
                          {"target[2] = -1", "5 classes", "ignore_index -100"}));
  EXPECT_TRUE(throws_error_with(
      [&] { cross_entropy(logits, cast(tensor_from(std::vector<int64_t>{5, 0, 0}, {3}), DType::Int32)); },
      {"target[0] = 5", "5 classes"}));
  EXPECT_TRUE(throws_error_with([&] { cross_entropy(logits, tensor_from(std::vector<int64_t>{0, 1}, {2})); },
                          {"int64[2]", "float32[3, 5]", "[3]"}));
  EXPECT_TRUE(throws_error_with([&] { cross_entropy(logits, zeros({3, 1}, DType::Int64)); }, {"int64[3, 1]", "float32[3, 5]"}));
  EXPECT_TRUE(throws_error_with([&] { cross_entropy(logits, zeros({3})); }, {"int64 or int32", "float32[3]"}));
  EXPECT_TRUE(throws_error_with([&] { cross_entropy(zeros({5}), zeros({1}, DType::Int64)); }, {"[N, C]", "float32[5]"}));
}

}  // namespace
}  // namespace ff
