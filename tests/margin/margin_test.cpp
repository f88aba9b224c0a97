// combined_margin: forward values against the closed form for every preset (including θ near
// 0 and m1·θ + m2 > π), the overflow policies, both gradient modes, -1 rows, the inter-class
// filter, layouts, dtypes and error messages. Float64 finite-difference checks are in
// margin_gradcheck_test.cpp.
#include <cmath>
#include <vector>

#include "framework/autograd/autograd.h"
#include "models/heads/margin_heads.h"
#include "ops/margin/margin.h"
#include "ops/shape/shape.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/random.h"
#include "tests/margin/margin_test_util.h"

namespace ff {
namespace {

using margin_test::all_close;
using margin_test::host;
using margin_test::reference_logits;
using margin_test::reference_target;
using margin_test::throws_error_with;

constexpr double kPi = 3.14159265358979323846;

struct Case {
  Tensor x;                     // float64 [N, C]
  std::vector<int64_t> labels;  // N entries, -1 allowed
  Tensor label_tensor() const { return tensor_from(labels, {static_cast<int64_t>(labels.size())}); }
};

// Random cosines plus rows whose target sits at θ = 0, θ ≈ 1e-5, θ = 1e-3, θ = π/2, θ = 2.9,
// θ = π (past θ + 0.5 > π for ArcFace) and a -1 row.
Case special_case(uint64_t seed) {
  const int64_t cols = 9;
  const std::vector<double> target_thetas = {0.0, 1e-5, 1e-3, kPi / 2, 2.9, kPi - 1e-6, kPi};
  Generator g(seed);
  std::vector<double> v = host(uniform({static_cast<int64_t>(target_thetas.size()) + 3, cols}, -0.99, 0.99,
                                       DType::Float64, Device(), &g));
  Case c;
  for (size_t i = 0; i < target_thetas.size(); ++i) {
    const int64_t t = static_cast<int64_t>((i * 4) % cols);
    v[i * cols + t] = std::cos(target_thetas[i]);
    c.labels.push_back(t);
  }
  c.labels.push_back(-1);
  c.labels.push_back(cols - 1);
  c.labels.push_back(3);
  c.x = tensor_from(v, {static_cast<int64_t>(c.labels.size()), cols});
  return c;
}

TEST(CombinedMargin, PresetsMatchClosedFormIncludingExtremeAngles) {
  const Case c = special_case(1);
  for (const char* name : {"arcface", "cosface", "cosface0.4", "combined", "softmax"}) {
    const MarginOptions o = heads::margin_preset(name);
    const Tensor out = combined_margin(c.x, c.label_tensor(), o);
    EXPECT_TRUE(all_close(host(out), reference_logits(host(c.x), c.labels, c.x.size(1), o), 1e-12, 1e-13)) << name;
  }
  // Spot values: ArcFace target at θ = 0 is 64·cos 0.5; CosFace subtracts 64·0.35.
  const Tensor arc = combined_margin(c.x, c.label_tensor(), heads::arcface());
  EXPECT_NEAR(host(arc)[0], 64.0 * std::cos(0.5), 1e-12);
  const Tensor cos = combined_margin(c.x, c.label_tensor(), heads::cosface());
  EXPECT_NEAR(host(cos)[0], 64.0 * (1.0 - 0.35), 1e-12);
}

TEST(CombinedMargin, GeneralM1AndEveryOverflowPolicy) {
  const Case c = special_case(2);
  for (double m1 : {1.0, 1.35, 0.8}) {
    for (MarginOverflow policy :
         {MarginOverflow::kLinear, MarginOverflow::kPlain, MarginOverflow::kThMm, MarginOverflow::kEasyMargin}) {
      MarginOptions o = heads::from_margin_list(m1, 0.45, 0.1, 30.0);
      o.overflow = policy;
      const Tensor out = combined_margin(c.x, c.label_tensor(), o);
      EXPECT_TRUE(all_close(host(out), reference_logits(host(c.x), c.labels, c.x.size(1), o), 1e-12, 1e-13))
          << "m1 " << m1 << " policy " << static_cast<int>(policy);
    }
  }
}

// The default policy keeps the target logit continuous and non-increasing in θ on [0, π].
TEST(CombinedMargin, LinearOverflowIsContinuousAndMonotone) {
  for (const MarginOptions& o : {heads::arcface(), heads::combined(), heads::from_margin_list(1.5, 0.2, 0.0)}) {
    const int64_t n = 20001;
    std::vector<double> xs(n);
    for (int64_t i = 0; i < n; ++i) xs[i] = std::cos(kPi * static_cast<double>(i) / (n - 1));  // θ from 0 to π
    const Tensor out = combined_margin(tensor_from(xs, {n, 1}), zeros({n}, DType::Int64), o);
    const std::vector<double> y = host(out);
    for (int64_t i = 1; i < n; ++i) {
      ASSERT_LE(y[i], y[i - 1] + 1e-12) << "not monotone at θ = " << kPi * i / (n - 1);
      ASSERT_LE(std::abs(y[i] - y[i - 1]), o.scale * 2e-3) << "jump at θ = " << kPi * i / (n - 1);
    }
  }
}

TEST(CombinedMargin, AnalyticGradientMatchesDerivativeAndStaysFiniteAtExtremeAngles) {
  const Case c = special_case(3);
  for (const char* name : {"arcface", "combined", "cosface", "softmax"}) {
    const MarginOptions o = heads::margin_preset(name);
    Tensor x = c.x.clone().set_requires_grad(true);
    Generator g(4);
    const Tensor grad_out = uniform(x.sizes(), -1.0, 1.0, DType::Float64, Device(), &g);
    combined_margin(x, c.label_tensor(), o).backward(grad_out);
    const std::vector<double> gx = host(x.grad()), go = host(grad_out), xv = host(c.x);
    const int64_t cols = c.x.size(1);
    for (size_t i = 0; i < c.labels.size(); ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        const size_t k = i * cols + j;
        ASSERT_TRUE(std::isfinite(gx[k])) << name << " row " << i;
        if (c.labels[i] != j) {
          EXPECT_DOUBLE_EQ(gx[k], o.scale * go[k]) << name << " row " << i << " col " << j;
          continue;
        }
        // Expected slope: the derivative at θ clamped to [1e-3, π − 1e-3] in the regular
        // branch, 1 in the linear continuation.
        const double theta = std::acos(std::min(1.0, std::max(-1.0, xv[k])));
        const double theta_b = (kPi - o.m2) / o.m1;
        double slope = 1.0;
        if (!(o.m1 == 1.0 && o.m2 == 0.0) && !(theta_b < kPi && theta >= theta_b)) {
          const double th = std::min(kPi - 1e-3, std::max(1e-3, theta));
          slope = o.m1 * std::sin(o.m1 * th + o.m2) / std::sin(th);
        }
        EXPECT_NEAR(gx[k], o.scale * slope * go[k], 1e-9 * std::abs(o.scale * slope)) << name << " row " << i;
      }
    }
  }
}

// arcface_torch's straight-through gradient: d out / d x = s on every column, target included.
TEST(CombinedMargin, StraightThroughGradientIsScaleEverywhere) {
  const Case c = special_case(5);
  for (const char* name : {"arcface", "combined", "cosface"}) {
    MarginOptions o = heads::margin_preset(name);
    o.gradient = MarginGradient::kStraightThrough;
    Tensor x = c.x.clone().set_requires_grad(true);
    Generator g(6);
    const Tensor grad_out = uniform(x.sizes(), -1.0, 1.0, DType::Float64, Device(), &g);
    const Tensor out = combined_margin(x, c.label_tensor(), o);
    // The forward is unchanged by the gradient mode.
    MarginOptions analytic = o;
    analytic.gradient = MarginGradient::kAnalytic;
    EXPECT_TRUE(all_close(host(out), host(combined_margin(c.x, c.label_tensor(), analytic)), 0.0)) << name;
    out.backward(grad_out);
    std::vector<double> expected = host(grad_out);
    for (double& e : expected) e *= o.scale;
    EXPECT_TRUE(all_close(host(x.grad()), expected, 1e-12)) << name;
  }
}

TEST(CombinedMargin, RowsLabelledMinusOneAreOnlyScaled) {
  Generator g(7);
  const Tensor x = uniform({4, 6}, -1.0, 1.0, DType::Float64, Device(), &g).set_requires_grad(true);
  const Tensor labels = tensor_from(std::vector<int64_t>{-1, 2, -1, -1}, {4});
  const Tensor out = combined_margin(x, labels, heads::combined());
  out.backward(ones({4, 6}, DType::Float64));
  const std::vector<double> xv = host(x), ov = host(out), gv = host(x.grad());
  for (int64_t i : {0, 2, 3}) {
    for (int64_t j = 0; j < 6; ++j) {
      EXPECT_EQ(ov[i * 6 + j], 64.0 * xv[i * 6 + j]);
      EXPECT_EQ(gv[i * 6 + j], 64.0);
    }
  }
  EXPECT_NE(ov[1 * 6 + 2], 64.0 * xv[1 * 6 + 2]);  // the labelled row's target did change
  // A batch of only -1 rows is s · x.
  const Tensor all_other = combined_margin(x.detach(), full({4}, -1.0, DType::Int64), heads::arcface());
  EXPECT_TRUE(all_close(host(all_other), host(x.detach() * 64.0), 0.0));
}

// A diverging run must show: NaN cosines stay NaN (the clamp never turns them into ±1).
TEST(CombinedMargin, NaNPropagates) {
  const double nan = std::nan("");
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor x = tensor_from(std::vector<double>{nan, 0.5, 0.2, nan}, {2, 2}).to(dtype);
    const std::vector<double> out = host(combined_margin(x, tensor_from(std::vector<int64_t>{1, 1}, {2}), heads::arcface()));
    EXPECT_TRUE(std::isnan(out[0]));
    EXPECT_TRUE(std::isnan(out[3]));  // the target itself
    EXPECT_FALSE(std::isnan(out[1]));
  }
}

TEST(CombinedMargin, InterclassFilterDropsConfusableNonTargets) {
  const std::vector<double> v = {0.9, 0.5, 0.2, 0.45,   // target col 0 (kept although > t)
                                 0.1, 0.41, 0.39, 0.8,  // target col 2
                                 0.7, 0.3, 0.5, -0.2};  // -1: every column is a non-target
  const Tensor x = tensor_from(v, {3, 4}).set_requires_grad(true);
  const Tensor labels = tensor_from(std::vector<int64_t>{0, 2, -1}, {3});
  MarginOptions o = heads::arcface();
  o.interclass_filtering_threshold = 0.4;
  const Tensor out = combined_margin(x, labels, o);
  EXPECT_TRUE(all_close(host(out), reference_logits(v, {0, 2, -1}, 4, o), 1e-12));
  out.backward(ones({3, 4}, DType::Float64));
  const std::vector<double> gv = host(x.grad());
  const std::vector<int> dropped = {0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0};
  for (size_t k = 0; k < v.size(); ++k) {
    if (dropped[k]) EXPECT_EQ(gv[k], 0.0) << k;
    else EXPECT_NE(gv[k], 0.0) << k;
  }
}

TEST(CombinedMargin, OddShapesAndNonContiguousInputsMatchContiguous) {
  Generator g(8);
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 1029}, {3, 2}, {0, 5}, {17, 3}}) {
    const Tensor base = uniform({cols, rows * 2}, -1.0, 1.0, DType::Float64, Device(), &g);
    const Tensor x = base.t().slice(0, 0, rows * 2, 2);  // [rows, cols], strides (2, 2 * rows)
    ASSERT_FALSE(x.is_contiguous() && rows > 1);
    std::vector<int64_t> lv(rows);
    for (int64_t i = 0; i < rows; ++i) lv[i] = i % 3 == 2 ? -1 : (i * 7) % cols;
    const Tensor labels = tensor_from(lv, {rows});
    for (double t : {0.0, 0.3}) {
      MarginOptions o = heads::combined();
      o.interclass_filtering_threshold = t;
      const Tensor a = combined_margin(x, labels, o);
      const Tensor b = combined_margin(x.contiguous(), labels, o);
      EXPECT_TRUE(a.is_contiguous());
      EXPECT_TRUE(all_close(host(a), host(b), 0.0)) << rows << "x" << cols;
      EXPECT_TRUE(all_close(host(a), reference_logits(host(x.contiguous()), lv, cols, o), 1e-12));
      // Backward from a non-contiguous upstream gradient (an expanded row).
      Tensor xl = x.detach().clone().set_requires_grad(true);
      const Tensor up = uniform({1, cols}, -1.0, 1.0, DType::Float64, Device(), &g).expand({rows, cols});
      combined_margin(xl, labels, o).backward(up);
      Tensor xr = x.detach().clone().set_requires_grad(true);
      combined_margin(xr, labels, o).backward(up.contiguous());
      EXPECT_TRUE(all_close(host(xl.grad()), host(xr.grad()), 0.0)) << rows << "x" << cols;
    }
  }
}

TEST(CombinedMargin, Float32Float16AndInt32Labels) {
  const Case c = special_case(9);
  const MarginOptions o = heads::arcface();
  const std::vector<double> ref = reference_logits(host(c.x), c.labels, c.x.size(1), o);
  std::vector<int64_t> l64 = c.labels;
  const Tensor l32 = c.label_tensor().to(DType::Int32);
  const Tensor f32 = combined_margin(c.x.to(DType::Float32), l32, o);
  EXPECT_EQ(f32.dtype(), DType::Float32);
  // cos(θ + m) near θ = 0 is sensitive to the float32 rounding of x (dθ = dx / sin θ): loose.
  EXPECT_TRUE(all_close(host(f32), ref, 64.0 * 2e-3));
  const Tensor f16 = combined_margin(c.x.to(DType::Float16), c.label_tensor(), o);
  EXPECT_EQ(f16.dtype(), DType::Float16);
  EXPECT_TRUE(all_close(host(f16), ref, 64.0 * 3e-2));
}

TEST(CombinedMargin, ErrorsNameShapesLabelsAndOptions) {
  const Tensor x = zeros({3, 4}, DType::Float64);
  EXPECT_TRUE(throws_error_with([&] { combined_margin(x, tensor_from(std::vector<int64_t>{0, 4, 1}, {3}), heads::arcface()); },
                          {"labels[1] = 4", "4 columns"}));
  EXPECT_TRUE(throws_error_with([&] { combined_margin(x, tensor_from(std::vector<int64_t>{0, -2, 1}, {3}), heads::arcface()); },
                          {"labels[1] = -2"}));
  EXPECT_TRUE(throws_error_with([&] { combined_margin(x, zeros({2}, DType::Int64), heads::arcface()); },
                          {"[3]", "float64[3, 4]"}));
  EXPECT_TRUE(throws_error_with([&] { combined_margin(zeros({3}, DType::Float64), zeros({3}, DType::Int64), heads::arcface()); },
                          {"[N, C]"}));
  EXPECT_TRUE(throws_error_with([&] { combined_margin(x, zeros({3}, DType::Float32), heads::arcface()); }, {"int64 or int32"}));
  MarginOptions bad = heads::arcface();
  bad.m2 = 4.0;
  EXPECT_TRUE(throws_error_with([&] { combined_margin(x, zeros({3}, DType::Int64), bad); }, {"m2", "4"}));
  EXPECT_TRUE(throws_error_with([] { heads::margin_preset("sphereface"); }, {"sphereface", "arcface"}));
}

TEST(MarginHeads, PresetValues) {
  const MarginOptions a = heads::arcface(), c = heads::cosface(), c4 = heads::margin_preset("cosface0.4"),
                      m = heads::combined(), s = heads::normalized_softmax();
  EXPECT_EQ(std::vector<double>({a.m1, a.m2, a.m3, a.scale}), std::vector<double>({1.0, 0.5, 0.0, 64.0}));
  EXPECT_EQ(std::vector<double>({c.m1, c.m2, c.m3}), std::vector<double>({1.0, 0.0, 0.35}));
  EXPECT_EQ(c4.m3, 0.4);
  EXPECT_EQ(std::vector<double>({m.m1, m.m2, m.m3}), std::vector<double>({1.0, 0.3, 0.2}));
  EXPECT_EQ(std::vector<double>({s.m1, s.m2, s.m3}), std::vector<double>({1.0, 0.0, 0.0}));
}

}  // namespace
}  // namespace ff
