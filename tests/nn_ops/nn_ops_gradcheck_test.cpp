// Gradient checks for the NN ops: batch_norm, l2_normalize, relu, prelu, dropout, softmax,
// log_softmax and cross_entropy. Odd sizes, several dims and non-contiguous (permuted,
// strided) inputs; every input stays small (< ~300 elements) so the checks are quick.
#include <cmath>

#include "ops/activation/activation.h"
#include "ops/norm/batch_norm.h"
#include "ops/norm/l2_normalize.h"
#include "ops/softmax/softmax.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"
#include "tests/common/gradcheck_registry.h"

namespace ff {
namespace {

using testing::leaf;
using V = std::vector<Tensor>;

// Float64 leaf with values in +-[margin, 1 + margin): kinked ops (relu, prelu) are only
// differentiable away from 0, and central differences of width 1e-6 never cross it.
Tensor leaf_away_from_zero(const Shape& shape, uint64_t seed, double margin = 0.1) {
  Generator g(seed);
  Tensor t = uniform(shape, -1.0, 1.0, DType::Float64, Device(), &g);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] < 0 ? p[i] - margin : p[i] + margin;
  t.set_requires_grad(true);
  return t;
}

Tensor leaf_from(const std::vector<double>& values, const Shape& shape) {
  Tensor t = tensor_from(values, shape);
  t.set_requires_grad(true);
  return t;
}

// ---- batch_norm -----------------------------------------------------------------------------------------
struct RunningStats {
  Tensor mean, var;
};

RunningStats running_stats(int64_t channels, uint64_t seed) {
  Generator g(seed);
  return {uniform({channels}, -0.5, 0.5, DType::Float64, Device(), &g),
          uniform({channels}, 0.5, 2.0, DType::Float64, Device(), &g)};
}

void check_batch_norm(const Shape& shape, bool training, bool affine, uint64_t seed) {
  const int64_t channels = shape[1];
  Tensor x = leaf(shape, seed, -2.0, 2.0);
  Tensor w = leaf({channels}, seed + 1, 0.5, 1.5);
  Tensor b = leaf({channels}, seed + 2);
  const RunningStats rs = running_stats(channels, seed + 3);
  V inputs = affine ? V{x, w, b} : V{x};
  EXPECT_GRADCHECK("batch_norm",
                   [&](const V& in) {
                     return V{batch_norm(in[0], affine ? in[1] : Tensor(), affine ? in[2] : Tensor(), rs.mean, rs.var,
                                         training, 0.1, 1e-5)};
                   },
                   inputs)
      << "shape " << shape_str(shape) << " training " << training << " affine " << affine;
}

FF_GRADCHECK_TEST(batch_norm, train_2d) {
  check_batch_norm({3, 2, 2, 3}, true, true, 10);
  check_batch_norm({2, 3, 3, 1}, true, false, 20);
}

FF_GRADCHECK_TEST(batch_norm, train_1d) {
  check_batch_norm({5, 3}, true, true, 30);
  check_batch_norm({7, 4}, true, false, 40);
  check_batch_norm({2, 3, 5}, true, true, 50);
}

FF_GRADCHECK_TEST(batch_norm, eval) {
  check_batch_norm({3, 2, 2, 3}, false, true, 60);
  check_batch_norm({3, 2, 2, 3}, false, false, 70);
  check_batch_norm({5, 3}, false, true, 80);
  check_batch_norm({1, 3}, false, true, 85);  // a single sample is fine in eval
}

FF_GRADCHECK_TEST(batch_norm, train_without_running_stats) {
  Tensor x = leaf({4, 3, 2}, 90, -2.0, 2.0), w = leaf({3}, 91, 0.5, 1.5), b = leaf({3}, 92);
  EXPECT_GRADCHECK("batch_norm", [&](const V& in) { return V{batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true)}; },
                   {x, w, b});
}

FF_GRADCHECK_TEST(batch_norm, non_contiguous) {
  // x permuted from [4, 3, 5] to [5, 3, 4] (C = 3 in the middle), weight a stride-2 slice.
  Tensor x = leaf({4, 3, 5}, 100, -2.0, 2.0), w = leaf({6}, 101, 0.5, 1.5), b = leaf({3}, 102);
  const RunningStats rs = running_stats(3, 103);
  for (bool training : {true, false}) {
    EXPECT_GRADCHECK("batch_norm",
                     [&](const V& in) {
                       return V{batch_norm(in[0].permute({2, 1, 0}), in[1].slice(0, 0, 6, 2), in[2], rs.mean, rs.var,
                                           training)};
                     },
                     {x, w, b});
  }
}

// ---- l2_normalize -----------------------------------------------------------------------------------------
FF_GRADCHECK_TEST(l2_normalize, dims) {
  Tensor x2 = leaf({4, 5}, 200);
  for (int64_t dim : {0, 1, -1}) {
    EXPECT_GRADCHECK("l2_normalize", [&](const V& in) { return V{l2_normalize(in[0], dim)}; }, {x2});
  }
  Tensor x3 = leaf({3, 4, 5}, 201);
  for (int64_t dim : {0, 1, 2}) {
    EXPECT_GRADCHECK("l2_normalize", [&](const V& in) { return V{l2_normalize(in[0], dim)}; }, {x3});
  }
  Tensor x1 = leaf({7}, 202);
  EXPECT_GRADCHECK("l2_normalize", [&](const V& in) { return V{l2_normalize(in[0], 0)}; }, {x1});
}

FF_GRADCHECK_TEST(l2_normalize, clamped_rows) {
  // eps = 0.5: rows 0 and 2 have norms 0.3 and 0.141 (clamped: y = x / eps), rows 1 and 3
  // have norms 1.3 and 0.72 (normalised); none is within 1e-6 of eps.
  Tensor x = leaf_from({0.1, -0.2, 0.2, 0.5, 1.2, 0.0, 0.1, 0.1, 0.0, -0.6, 0.3, 0.27}, {4, 3});
  EXPECT_GRADCHECK("l2_normalize", [&](const V& in) { return V{l2_normalize(in[0], 1, 0.5)}; }, {x});
}

FF_GRADCHECK_TEST(l2_normalize, non_contiguous) {
  Tensor x = leaf({6, 5}, 203);
  EXPECT_GRADCHECK("l2_normalize", [&](const V& in) { return V{l2_normalize(in[0].t().slice(1, 0, 6, 2), 1)}; }, {x});
}

// ---- relu / prelu ---------------------------------------------------------------------------------------
FF_GRADCHECK_TEST(relu, shapes) {
  for (const Shape& s : std::vector<Shape>{{}, {7}, {3, 5}, {2, 3, 4}}) {
    Tensor x = leaf_away_from_zero(s, 300);
    EXPECT_GRADCHECK("relu", [&](const V& in) { return V{relu(in[0])}; }, {x});
  }
  Tensor x = leaf_away_from_zero({5, 6}, 301);
  EXPECT_GRADCHECK("relu", [&](const V& in) { return V{relu(in[0].t().slice(0, 1, 6, 2))}; }, {x});
}

FF_GRADCHECK_TEST(prelu, per_channel) {
  for (const Shape& s : std::vector<Shape>{{4, 3}, {2, 3, 5}, {2, 3, 2, 3}}) {
    Tensor x = leaf_away_from_zero(s, 400);
    Tensor w = leaf({3}, 401, 0.05, 0.5);
    EXPECT_GRADCHECK("prelu", [&](const V& in) { return V{prelu(in[0], in[1])}; }, {x, w});
  }
}

FF_GRADCHECK_TEST(prelu, shared_weight) {
  for (const Shape& s : std::vector<Shape>{{7}, {4, 3}, {2, 3, 2, 2}}) {
    Tensor x = leaf_away_from_zero(s, 410);
    Tensor w = leaf({1}, 411, 0.05, 0.5);
    EXPECT_GRADCHECK("prelu", [&](const V& in) { return V{prelu(in[0], in[1])}; }, {x, w});
  }
}

FF_GRADCHECK_TEST(prelu, non_contiguous) {
  // x [3, 4, 5] permuted to [5, 4, 3] (C = 4); weight a stride-2 slice of [8].
  Tensor x = leaf_away_from_zero({3, 4, 5}, 420);
  Tensor w = leaf({8}, 421, 0.05, 0.5);
  EXPECT_GRADCHECK("prelu", [&](const V& in) { return V{prelu(in[0].permute({2, 1, 0}), in[1].slice(0, 1, 8, 2))}; },
                   {x, w});
}

// ---- dropout --------------------------------------------------------------------------------------------
// f re-seeds its own generator, so every evaluation (analytic and each finite difference) draws
// the same mask and dropout is a fixed linear map.
FF_GRADCHECK_TEST(dropout, fixed_generator) {
  for (const Shape& s : std::vector<Shape>{{4, 5}, {3, 7, 2}, {13}}) {
    Tensor x = leaf(s, 500);
    EXPECT_GRADCHECK("dropout",
                     [&](const V& in) {
                       Generator g(42);
                       return V{dropout(in[0], 0.3, true, &g)};
                     },
                     {x});
  }
  Tensor x = leaf({6, 5}, 501);
  EXPECT_GRADCHECK("dropout",
                   [&](const V& in) {
                     Generator g(7);
                     return V{dropout(in[0].t(), 0.5, true, &g)};
                   },
                   {x});
}

// ---- softmax / log_softmax --------------------------------------------------------------------------------
template <typename F>
void check_softmax_like(const std::string& op, F f) {
  Tensor x1 = leaf({7}, 600, -3.0, 3.0);
  EXPECT_GRADCHECK(op, [&](const V& in) { return V{f(in[0], 0)}; }, {x1});
  Tensor x2 = leaf({3, 5}, 601, -3.0, 3.0);
  for (int64_t dim : {0, 1, -1}) EXPECT_GRADCHECK(op, [&](const V& in) { return V{f(in[0], dim)}; }, {x2});
  Tensor x3 = leaf({2, 3, 4}, 602, -3.0, 3.0);
  for (int64_t dim : {0, 1, 2}) EXPECT_GRADCHECK(op, [&](const V& in) { return V{f(in[0], dim)}; }, {x3});
  Tensor x4 = leaf({5, 6}, 603, -3.0, 3.0);
  EXPECT_GRADCHECK(op, [&](const V& in) { return V{f(in[0].t().slice(1, 0, 5, 2), 1)}; }, {x4});
  EXPECT_GRADCHECK(op, [&](const V& in) { return V{f(in[0].t(), 0)}; }, {x4});
}

FF_GRADCHECK_TEST(softmax, dims) { check_softmax_like("softmax", [](const Tensor& x, int64_t d) { return softmax(x, d); }); }
FF_GRADCHECK_TEST(log_softmax, dims) {
  check_softmax_like("log_softmax", [](const Tensor& x, int64_t d) { return log_softmax(x, d); });
}

// ---- cross_entropy ----------------------------------------------------------------------------------------
FF_GRADCHECK_TEST(cross_entropy, reductions) {
  Tensor logits = leaf({5, 7}, 700, -3.0, 3.0);
  const Tensor target = tensor_from(std::vector<int64_t>{3, 0, -100, 6, 3}, {5});  // row 2 ignored
  for (Reduction r : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    EXPECT_GRADCHECK("cross_entropy", [&](const V& in) { return V{cross_entropy(in[0], target, r)}; }, {logits})
        << "reduction " << static_cast<int>(r);
  }
}

FF_GRADCHECK_TEST(cross_entropy, int32_target_and_custom_ignore_index) {
  Tensor logits = leaf({4, 3}, 710, -3.0, 3.0);
  const Tensor target = cast(tensor_from(std::vector<int64_t>{2, 1, 0, 1}, {4}), DType::Int32);
  for (Reduction r : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    EXPECT_GRADCHECK("cross_entropy", [&](const V& in) { return V{cross_entropy(in[0], target, r, /*ignore_index=*/1)}; },
                     {logits});
  }
}

FF_GRADCHECK_TEST(cross_entropy, non_contiguous) {
  Tensor logits = leaf({6, 4}, 720, -3.0, 3.0);  // used as its transpose: 4 rows of 6 classes
  const Tensor target = tensor_from(std::vector<int64_t>{5, 0, 2, 2}, {4});
  for (Reduction r : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    EXPECT_GRADCHECK("cross_entropy", [&](const V& in) { return V{cross_entropy(in[0].t(), target, r)}; }, {logits});
  }
}

}  // namespace
}  // namespace ff
