// AdamW: two steps checked against arithmetic done by hand, amsgrad, state_dict resume and
// 16-bit params.
#include "framework/optim/adamw.h"

#include <gtest/gtest.h>

#include <cmath>

#include "framework/io/safetensors.h"
#include "tests/optim/optim_test_util.h"

namespace ff {
namespace {

using namespace ff::optim;

using testing::param;
using testing::set_grad;
using testing::values;

TEST(AdamW, TwoStepsByHand) {
  // lr 0.01, betas (0.9, 0.999), eps 1e-8, weight_decay 0.1.
  Tensor p = param({1.0, -2.0, 0.5});
  const auto o = AdamWOptions(0.01).weight_decay(0.1);
  AdamW opt({p}, o);

  // Step 1 (t = 1), grad g1 = [0.1, 0.2, -0.3]:
  //   p *= 1 - 0.01 * 0.1 = 0.999          -> [0.999, -1.998, 0.4995]
  //   m  = 0.1 * g1                        =  [0.01, 0.02, -0.03]
  //   v  = 0.001 * g1^2                    =  [1e-5, 4e-5, 9e-5]
  //   bias corrections 1 - 0.9 = 0.1 and 1 - 0.999 = 0.001, so
  //   denom = sqrt(v) / sqrt(0.001) + 1e-8 =  [0.1, 0.2, 0.3] + 1e-8
  //   p -= (0.01 / 0.1) * m / denom        =  0.1 * [0.01/0.10000001, 0.02/0.20000001, -0.03/0.30000001]
  //                                        ~= [0.009999999, 0.0099999995, -0.00999999967]
  //   p = [0.989000001, -2.0079999995, 0.50949999967]  (the first Adam step is ~ lr * sign(g))
  set_grad(p, {0.1, 0.2, -0.3});
  opt.step();
  EXPECT_VALUES_NEAR(p, (std::vector<double>{0.999 - 0.1 * (0.01 / (0.1 + 1e-8)), -1.998 - 0.1 * (0.02 / (0.2 + 1e-8)),
                                             0.4995 + 0.1 * (0.03 / (0.3 + 1e-8))}),
                     1e-12);
  EXPECT_VALUES_NEAR(p, (std::vector<double>{0.989000001, -2.0079999995, 0.50949999967}), 1e-10);
  EXPECT_VALUES_NEAR(opt.state_tensor(0, 0, "exp_avg"), (std::vector<double>{0.01, 0.02, -0.03}), 1e-15);
  EXPECT_VALUES_NEAR(opt.state_tensor(0, 0, "exp_avg_sq"), (std::vector<double>{1e-5, 4e-5, 9e-5}), 1e-18);
  EXPECT_EQ(opt.param_step(0, 0), 1);

  // Step 2 (t = 2), grad g2 = [-0.2, 0.4, 0.1]:
  //   p *= 0.999
  //   m  = 0.9 * m + 0.1 * g2              = [0.009 - 0.02, 0.018 + 0.04, -0.027 + 0.01] = [-0.011, 0.058, -0.017]
  //   v  = 0.999 * v + 0.001 * g2^2        = [0.00000999 + 0.00004, 0.00003996 + 0.00016, 0.00008991 + 0.00001]
  //                                        = [4.999e-5, 1.9996e-4, 9.991e-5]
  //   bias corrections 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999
  //   p -= (0.01 / 0.19) * m / (sqrt(v) / sqrt(0.001999) + 1e-8)
  const std::vector<double> p1 = values(p);
  const std::vector<double> m2 = {-0.011, 0.058, -0.017}, v2 = {4.999e-5, 1.9996e-4, 9.991e-5};
  std::vector<double> expected(3);
  for (size_t i = 0; i < 3; ++i) {
    expected[i] = p1[i] * 0.999 - (0.01 / 0.19) * m2[i] / (std::sqrt(v2[i]) / std::sqrt(0.001999) + 1e-8);
  }
  set_grad(p, {-0.2, 0.4, 0.1});
  opt.step();
  EXPECT_VALUES_NEAR(p, expected, 1e-12);
  EXPECT_VALUES_NEAR(p, (std::vector<double>{0.9916720360378488, -2.015643819453546, 0.5129926852075253}), 1e-12);
  EXPECT_VALUES_NEAR(opt.state_tensor(0, 0, "exp_avg"), m2, 1e-15);
  EXPECT_VALUES_NEAR(opt.state_tensor(0, 0, "exp_avg_sq"), v2, 1e-18);
  EXPECT_EQ(opt.param_step(0, 0), 2);
}

TEST(AdamW, AmsgradKeepsTheMaximumSecondMoment) {
  // Without weight decay, a large gradient then a small one: v shrinks, vmax keeps the peak.
  Tensor p = param({0.0});
  const auto o = AdamWOptions(0.1).weight_decay(0.0).amsgrad(true).eps(0.0);
  AdamW opt({p}, o);
  set_grad(p, {1.0});
  opt.step();  // m = 0.1, v = vmax = 0.001; p = -(0.1 / 0.1) * 0.1 / (sqrt(0.001) / sqrt(0.001)) = -0.1
  EXPECT_VALUES_NEAR(p, (std::vector<double>{-0.1}), 1e-15);
  set_grad(p, {0.0});
  opt.step();
  // m = 0.09, v = 0.000999, vmax = 0.001, bias corrections 0.19 / 0.001999:
  // p = -0.1 - (0.1 / 0.19) * 0.09 / (sqrt(0.001) / sqrt(0.001999))
  const double expected = -0.1 - (0.1 / 0.19) * 0.09 / (std::sqrt(0.001) / std::sqrt(0.001999));
  EXPECT_VALUES_NEAR(p, (std::vector<double>{expected}), 1e-14);
  EXPECT_VALUES_NEAR(opt.state_tensor(0, 0, "max_exp_avg_sq"), (std::vector<double>{0.001}), 1e-18);
}

TEST(AdamW, Float16ParamsComputeInFloatWithFloat32Moments) {
  const std::vector<double> init = {1.0, -2.0, 0.5};
  Tensor p = param(init, DType::Float16);
  const auto o = AdamWOptions(0.01).weight_decay(0.1);
  AdamW opt({p}, o);
  std::vector<double> ref = init, m(3, 0.0), v(3, 0.0);
  const std::vector<std::vector<double>> grads = {{0.1, 0.2, -0.3}, {-0.2, 0.4, 0.1}, {0.3, -0.1, 0.2}};
  for (size_t s = 0; s < grads.size(); ++s) {
    set_grad(p, grads[s]);
    opt.step();
    const double t = static_cast<double>(s + 1);
    for (size_t i = 0; i < 3; ++i) {
      const double g = grads[s][i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      const double next = ref[i] * (1 - 0.001) -
                          (0.01 / (1 - std::pow(0.9, t))) * m[i] / (std::sqrt(v[i] / (1 - std::pow(0.999, t))) + 1e-8);
      ref[i] = static_cast<float>(Half(static_cast<float>(next)));
    }
  }
  EXPECT_EQ(opt.state_tensor(0, 0, "exp_avg").dtype(), DType::Float32);
  EXPECT_EQ(opt.state_tensor(0, 0, "exp_avg_sq").dtype(), DType::Float32);
  EXPECT_VALUES_NEAR(p, ref, 2e-3);
}

TEST(AdamW, StateDictRoundTripGivesIdenticalSteps) {
  const auto o = AdamWOptions(1e-3).amsgrad(true);
  Tensor a = param({1.0, -2.0, 0.5}, DType::Float32), b = param({0.25, 4.0}, DType::Float32);
  AdamW original({a, b}, o);
  for (int s = 0; s < 3; ++s) {
    set_grad(a, {0.1 * s, 0.2, -0.3});
    if (s > 0) set_grad(b, {0.3, -0.1 * s});  // b starts one step later: its own step count
    original.step();
  }
  EXPECT_EQ(original.param_step(0, 0), 3);
  EXPECT_EQ(original.param_step(0, 1), 2);
  const StateDict state = original.state_dict();
  EXPECT_EQ(state.at("state.0.1.step").item<int64_t>(), 2);
  const std::string path = ::testing::TempDir() + "adamw_state.safetensors";
  save_safetensors(path, state);

  Tensor a2 = a.detach().clone(), b2 = b.detach().clone();
  AdamW resumed({a2, b2}, AdamWOptions(0.5));
  resumed.load_state_dict(load_safetensors(path).tensors);
  EXPECT_DOUBLE_EQ(resumed.lr(), 1e-3);
  EXPECT_EQ(resumed.param_step(0, 1), 2);
  for (Tensor* p : {&a, &b, &a2, &b2}) set_grad(*p, std::vector<double>(p->numel(), -0.25));
  original.step();
  resumed.step();
  EXPECT_EQ(values(a), values(a2));
  EXPECT_EQ(values(b), values(b2));
  std::remove(path.c_str());

  // A parameter with moments but no step count is rejected, naming the missing key.
  StateDict wrong = state;
  wrong.erase("state.0.0.step");
  AdamW target({param({1.0, -2.0, 0.5}, DType::Float32), param({0.25, 4.0}, DType::Float32)}, o);
  EXPECT_FF_ERROR(target.load_state_dict(wrong), "state.0.0.step");
}

TEST(AdamW, InvalidOptionsAreRejected) {
  Tensor p = param({1.0});
  const auto bad_beta = AdamWOptions(1e-3).beta2(1.0);
  EXPECT_FF_ERROR(AdamW({p}, bad_beta), "beta2", "[0, 1)");
  const auto bad_eps = AdamWOptions(1e-3).eps(-1.0);
  EXPECT_FF_ERROR(AdamW({p}, bad_eps), "eps");
}

}  // namespace
}  // namespace ff
