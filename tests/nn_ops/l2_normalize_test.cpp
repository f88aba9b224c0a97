// l2_normalize: unit norms, naive reference along every dim, the eps-clamped region, dtypes,
// layouts and error messages.
#include <cmath>

#include "ops/elementwise/binary.h"
#include "ops/norm/l2_normalize.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/random.h"
#include "tests/common/test_assertions.h"
#include "tests/nn_ops/nn_ops_test_util.h"

namespace ff {
namespace {

using testing::all_close;
using testing::host;
using testing::throws_error_with;

std::vector<double> naive_l2_normalize(const Tensor& x, int64_t dim, double eps) {
  return testing::naive_along_dim(x, dim, [eps](const std::vector<double>& slice) {
    double sq = 0;
    for (const double v : slice) sq += v * v;
    const double d = std::max(std::sqrt(sq), eps);
    std::vector<double> out;
    for (const double v : slice) out.push_back(v / d);
    return out;
  });
}

TEST(L2Normalize, RowsHaveUnitNorm) {
  Generator g(1);
  Tensor x = normal({6, 512}, 0.0, 3.0, DType::Float32, Device(), &g);  // embedding-like
  Tensor y = l2_normalize(x);
  Tensor norms = sum(mul(y, y), {1});
  EXPECT_TRUE(all_close(host(norms), std::vector<double>(6, 1.0), 1e-5));
  EXPECT_TRUE(all_close(host(y), naive_l2_normalize(x, 1, 1e-12), 1e-6));
}

TEST(L2Normalize, EveryDimMatchesNaive) {
  // [3, 70, 5] along dim 0/1/2: inner sizes 350, 5 and 1, so 64-wide blocks and their tails run.
  Generator g(2);
  Tensor x = randn({3, 70, 5}, DType::Float64, Device(), &g);
  for (int64_t dim : {0, 1, 2, -1}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    EXPECT_TRUE(all_close(host(l2_normalize(x, dim)), naive_l2_normalize(x, d, 1e-12), 1e-15, 1e-13)) << "dim " << dim;
  }
}

TEST(L2Normalize, ZeroAndTinyRowsAreDividedByEps) {
  Tensor x = tensor_from(std::vector<double>{0, 0, 0, 3, 4, 0, 1e-3, 0, 0}, {3, 3}).set_requires_grad(true);
  Tensor y = l2_normalize(x, 1, 0.01);
  // Row 0 stays 0 (no NaN); row 1 is normalised; row 2 (norm 1e-3 < eps) is x / eps.
  EXPECT_TRUE(all_close(host(y), {0, 0, 0, 0.6, 0.8, 0, 0.1, 0, 0}, 1e-15));
  Tensor w = tensor_from(std::vector<double>{1, 2, 3, 1, 2, 3, 1, 2, 3}, {3, 3});
  sum(mul(y, w)).backward();
  // Clamped rows: grad = w / eps. Row 1: (w - y <w, y>) / 5 with <w, y> = 0.6 + 1.6 = 2.2.
  EXPECT_TRUE(all_close(host(x.grad()), {100, 200, 300, (1 - 0.6 * 2.2) / 5, (2 - 0.8 * 2.2) / 5, 3.0 / 5, 100, 200, 300},
                        1e-12));
}

TEST(L2Normalize, NonContiguousAndHalf) {
  Generator g(3);
  Tensor base = randn({8, 5}, DType::Float32, Device(), &g);
  Tensor x = base.t();  // [5, 8]
  EXPECT_TRUE(all_close(l2_normalize(x, 1), l2_normalize(x.contiguous(), 1), 0.0));
  // Values lie in [-1, 1]: fp16 rounds within 2^-12, bf16 within 2^-9.
  for (auto [dt, tol] : {std::pair{DType::Float16, 5e-4}, std::pair{DType::BFloat16, 4e-3}}) {
    Tensor x16 = x.to(dt);
    EXPECT_TRUE(all_close(l2_normalize(x16, 1), l2_normalize(x16.to(DType::Float32), 1), tol)) << dtype_name(dt);
  }
}

TEST(L2Normalize, BadInputsNameDimAndShape) {
  EXPECT_TRUE(throws_error_with([] { l2_normalize(zeros({2, 3}), 2); }, {"l2_normalize", "dim 2", "2 dims"}));
  EXPECT_TRUE(throws_error_with([] { l2_normalize(zeros({2, 3}), 1, -1.0); }, {"l2_normalize", "eps", "-1"}));
  EXPECT_TRUE(throws_error_with([] { l2_normalize(zeros({2, 3}, DType::Int64)); }, {"l2_normalize", "int64[2, 3]"}));
}

}  // namespace
}  // namespace ff
