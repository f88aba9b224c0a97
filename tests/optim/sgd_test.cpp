// SGD: updates checked against arithmetic done by hand, state_dict resume, 16-bit params,
// parameter groups and argument errors.
#include "framework/optim/sgd.h"

#include <gtest/gtest.h>

#include "framework/io/safetensors.h"
#include "tests/optim/optim_test_util.h"

namespace ff {
namespace {

using namespace ff::optim;

using testing::param;
using testing::set_grad;
using testing::values;

TEST(SGD, NesterovMomentumWeightDecayTwoStepsByHand) {
  // lr 0.1, momentum 0.9, dampening 0, weight_decay 0.01, nesterov.
  Tensor p = param({1.0, -2.0, 0.5});
  const auto o = SGDOptions(0.1).momentum(0.9).weight_decay(0.01).nesterov(true);
  SGD opt({p}, o);

  // Step 1, grad g1 = [0.1, 0.2, -0.3]:
  //   d   = g1 + 0.01 * p      = [0.1 + 0.01, 0.2 - 0.02, -0.3 + 0.005] = [0.11, 0.18, -0.295]
  //   buf = d (first step)     = [0.11, 0.18, -0.295]
  //   d   = d + 0.9 * buf      = 1.9 * d = [0.209, 0.342, -0.5605]
  //   p   = p - 0.1 * d        = [0.9791, -2.0342, 0.55605]
  set_grad(p, {0.1, 0.2, -0.3});
  opt.step();
  EXPECT_VALUES_NEAR(p, (std::vector<double>{0.9791, -2.0342, 0.55605}), 1e-12);
  EXPECT_VALUES_NEAR(opt.state_tensor(0, 0, "momentum_buffer"), (std::vector<double>{0.11, 0.18, -0.295}), 1e-12);

  // Step 2, grad g2 = [-0.2, 0.4, 0.1]:
  //   d   = g2 + 0.01 * p      = [-0.2 + 0.009791, 0.4 - 0.020342, 0.1 + 0.0055605]
  //                            = [-0.190209, 0.379658, 0.1055605]
  //   buf = 0.9 * buf + d      = [0.099 - 0.190209, 0.162 + 0.379658, -0.2655 + 0.1055605]
  //                            = [-0.091209, 0.541658, -0.1599395]
  //   d   = d + 0.9 * buf      = [-0.190209 - 0.0820881, 0.379658 + 0.4874922, 0.1055605 - 0.14394555]
  //                            = [-0.2722971, 0.8671502, -0.03838505]
  //   p   = p - 0.1 * d        = [0.9791 + 0.02722971, -2.0342 - 0.08671502, 0.55605 + 0.003838505]
  //                            = [1.00632971, -2.12091502, 0.559888505]
  set_grad(p, {-0.2, 0.4, 0.1});
  opt.step();
  EXPECT_VALUES_NEAR(p, (std::vector<double>{1.00632971, -2.12091502, 0.559888505}), 1e-12);
  EXPECT_VALUES_NEAR(opt.state_tensor(0, 0, "momentum_buffer"), (std::vector<double>{-0.091209, 0.541658, -0.1599395}),
                     1e-12);
  EXPECT_EQ(opt.step_count(), 2);
}

TEST(SGD, HeavyBallMomentumWithDampeningByHand) {
  // lr 0.1, momentum 0.9, dampening 0.5, no weight decay, no nesterov.
  Tensor p = param({1.0, -2.0, 0.5});
  const auto o = SGDOptions(0.1).momentum(0.9).dampening(0.5);
  SGD opt({p}, o);
  // Step 1: buf = g1 = [0.1, 0.2, -0.3] (dampening is not applied to the first step);
  //         p = p - 0.1 * buf = [0.99, -2.02, 0.53].
  set_grad(p, {0.1, 0.2, -0.3});
  opt.step();
  EXPECT_VALUES_NEAR(p, (std::vector<double>{0.99, -2.02, 0.53}), 1e-12);
  // Step 2: buf = 0.9 * buf + (1 - 0.5) * g2 = [0.09 - 0.1, 0.18 + 0.2, -0.27 + 0.05] = [-0.01, 0.38, -0.22];
  //         p = p - 0.1 * buf = [0.991, -2.058, 0.552].
  set_grad(p, {-0.2, 0.4, 0.1});
  opt.step();
  EXPECT_VALUES_NEAR(p, (std::vector<double>{0.991, -2.058, 0.552}), 1e-12);
}

TEST(SGD, PlainSgdWithWeightDecayAndMaximize) {
  // No momentum: p = p - lr * (g + wd * p); maximize flips the gradient's sign.
  Tensor p = param({1.0, -2.0, 0.5});
  const auto o = SGDOptions(0.5).weight_decay(0.1);
  SGD opt({p}, o);
  set_grad(p, {0.1, 0.2, -0.3});
  opt.step();
  // p - 0.5 * [0.1 + 0.1, 0.2 - 0.2, -0.3 + 0.05] = [1 - 0.1, -2 - 0, 0.5 + 0.125]
  EXPECT_VALUES_NEAR(p, (std::vector<double>{0.9, -2.0, 0.625}), 1e-12);
  EXPECT_FALSE(opt.state_tensor(0, 0, "momentum_buffer").defined());

  Tensor q = param({1.0, -2.0, 0.5});
  const auto m = SGDOptions(0.5).maximize(true);
  SGD up({q}, m);
  set_grad(q, {0.1, 0.2, -0.3});
  up.step();
  EXPECT_VALUES_NEAR(q, (std::vector<double>{1.05, -1.9, 0.35}), 1e-12);
}

TEST(SGD, Float32MatchesFloat64) {
  Tensor p64 = param({1.0, -2.0, 0.5});
  Tensor p32 = param({1.0, -2.0, 0.5}, DType::Float32);
  const auto o = SGDOptions(0.1).momentum(0.9).weight_decay(5e-4);
  SGD a({p64}, o), b({p32}, o);
  for (int s = 0; s < 5; ++s) {
    const std::vector<double> g = {0.1 * s, -0.2, 0.3 - 0.1 * s};
    set_grad(p64, g);
    set_grad(p32, g);
    a.step();
    b.step();
  }
  EXPECT_EQ(b.state_tensor(0, 0, "momentum_buffer").dtype(), DType::Float32);
  EXPECT_VALUES_NEAR(p32, values(p64), 1e-6);
}

// float16/bfloat16 parameters compute in float, keep a float32 buffer and round the
// parameter once per step; the reference does the same arithmetic in double.
void check_16bit(DType dtype, double tol) {
  const std::vector<double> init = {1.0, -2.0, 0.5};
  Tensor p = param(init, dtype);
  const auto o = SGDOptions(0.1).momentum(0.9).weight_decay(0.01).nesterov(true);
  SGD opt({p}, o);
  std::vector<double> ref = init, buf(3);
  const std::vector<std::vector<double>> grads = {{0.1, 0.2, -0.3}, {-0.2, 0.4, 0.1}, {0.05, -0.1, 0.2}};
  for (size_t s = 0; s < grads.size(); ++s) {
    set_grad(p, grads[s]);
    opt.step();
    for (size_t i = 0; i < 3; ++i) {
      double d = grads[s][i] + 0.01 * ref[i];
      buf[i] = s == 0 ? d : 0.9 * buf[i] + d;
      d = d + 0.9 * buf[i];
      const double next = ref[i] - 0.1 * d;
      ref[i] = dtype == DType::Float16 ? static_cast<double>(static_cast<float>(Half(static_cast<float>(next))))
                                       : static_cast<double>(static_cast<float>(BFloat16(static_cast<float>(next))));
    }
  }
  EXPECT_EQ(p.dtype(), dtype);
  EXPECT_EQ(opt.state_tensor(0, 0, "momentum_buffer").dtype(), DType::Float32);
  EXPECT_VALUES_NEAR(p, ref, tol);
}

TEST(SGD, Float16Params) { check_16bit(DType::Float16, 2e-3); }
TEST(SGD, BFloat16Params) { check_16bit(DType::BFloat16, 2e-2); }

TEST(SGD, SkipsParamsWithoutGradAndZeroGradDropsGrads) {
  Tensor a = param({1.0, 2.0}), b = param({3.0});
  const auto o = SGDOptions(1.0).momentum(0.5);
  SGD opt({a, b}, o);
  set_grad(a, {0.5, 0.5});
  opt.step();
  EXPECT_VALUES_NEAR(a, (std::vector<double>{0.5, 1.5}), 0.0);
  EXPECT_VALUES_NEAR(b, (std::vector<double>{3.0}), 0.0);
  EXPECT_FALSE(opt.state_tensor(0, 1, "momentum_buffer").defined());
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  opt.step();  // nothing has a grad: a no-op
  EXPECT_VALUES_NEAR(a, (std::vector<double>{0.5, 1.5}), 0.0);
}

TEST(SGD, NonContiguousParameterView) {
  // A transposed view as the parameter: the kernel follows its strides.
  Tensor base = tensor_from(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor p = base.t();  // [3, 2], strides (1, 3)
  SGD opt({p}, SGDOptions(1.0));
  p.set_grad(full({3, 2}, 0.5, DType::Float64));
  opt.step();
  EXPECT_VALUES_NEAR(base, (std::vector<double>{0.5, 1.5, 2.5, 3.5, 4.5, 5.5}), 0.0);
}

TEST(SGD, ParamGroupsHaveTheirOwnOptions) {
  Tensor backbone = param({1.0}), pfc = param({1.0});
  const auto o = SGDOptions(0.1).momentum(0.9);
  SGD opt({ParamGroup({backbone}), ParamGroup({pfc}, {{"lr", 0.01}, {"weight_decay", 1.0}})}, o);
  EXPECT_EQ(opt.num_groups(), 2u);
  EXPECT_DOUBLE_EQ(opt.lr(0), 0.1);
  EXPECT_DOUBLE_EQ(opt.lr(1), 0.01);
  EXPECT_DOUBLE_EQ(opt.option(1, "momentum"), 0.9);  // from the defaults
  set_grad(backbone, {1.0});
  set_grad(pfc, {1.0});
  opt.step();
  EXPECT_VALUES_NEAR(backbone, (std::vector<double>{0.9}), 1e-15);
  EXPECT_VALUES_NEAR(pfc, (std::vector<double>{0.98}), 1e-15);  // 1 - 0.01 * (1 + 1.0 * 1)
  opt.set_lr(0, 0.5);
  EXPECT_DOUBLE_EQ(opt.lr(0), 0.5);
}

TEST(SGD, InvalidOptionsAreRejected) {
  Tensor p = param({1.0});
  const auto nesterov_without_momentum = SGDOptions(0.1).nesterov(true);
  EXPECT_FF_ERROR(SGD({p}, nesterov_without_momentum), "Nesterov", "momentum > 0");
  const auto nesterov_with_dampening = SGDOptions(0.1).nesterov(true).momentum(0.9).dampening(0.1);
  EXPECT_FF_ERROR(SGD({p}, nesterov_with_dampening), "dampening == 0");
  EXPECT_FF_ERROR(SGD({p}, SGDOptions(-1.0)), "'lr'", "-1");
  EXPECT_FF_ERROR(SGD({ParamGroup({p}, {{"momentun", 0.9}})}, SGDOptions(0.1)), "unknown option 'momentun'",
                  "momentum");
  EXPECT_FF_ERROR(SGD({p, p}, SGDOptions(0.1)), "more than once");
  EXPECT_FF_ERROR(SGD({tensor_from(std::vector<int64_t>{1}, {1})}, SGDOptions(0.1)), "floating-point");
  SGD opt({p}, SGDOptions(0.1));
  EXPECT_FF_ERROR(opt.set_option(0, "nesterov", 0.5), "flag");
  // A gradient in another dtype (e.g. float32 grads of a float64 parameter) is cast.
  p.set_grad(full({1}, 2.0, DType::Float32));
  opt.step();
  EXPECT_VALUES_NEAR(p, (std::vector<double>{0.8}), 1e-15);
}

TEST(SGD, StateDictRoundTripThroughSafetensorsGivesIdenticalSteps) {
  const auto o = SGDOptions(0.1).momentum(0.9).weight_decay(5e-4).nesterov(true);
  Tensor a = param({1.0, -2.0, 0.5}, DType::Float32), b = param({0.25, 4.0}, DType::Float16);
  SGD original({ParamGroup({a}), ParamGroup({b}, {{"lr", 0.05}})}, o);
  for (int s = 0; s < 3; ++s) {
    set_grad(a, {0.1 * s, 0.2, -0.3});
    set_grad(b, {0.3, -0.1 * s});
    original.step();
  }
  const std::string path = ::testing::TempDir() + "sgd_state.safetensors";
  save_safetensors(path, original.state_dict());

  // A fresh optimizer over copies of the parameters, resumed from the file.
  Tensor a2 = a.detach().clone(), b2 = b.detach().clone();
  SGD resumed({ParamGroup({a2}), ParamGroup({b2})}, SGDOptions(0.7));
  resumed.load_state_dict(load_safetensors(path).tensors);
  EXPECT_DOUBLE_EQ(resumed.lr(1), 0.05);
  EXPECT_DOUBLE_EQ(resumed.option(0, "nesterov"), 1.0);
  EXPECT_EQ(resumed.step_count(), 3);
  for (Tensor* p : {&a, &b, &a2, &b2}) set_grad(*p, std::vector<double>(p->numel(), 0.125));
  original.step();
  resumed.step();
  EXPECT_EQ(values(a), values(a2));  // bitwise identical
  EXPECT_EQ(values(b), values(b2));
  std::remove(path.c_str());
}

TEST(SGD, LoadStateDictValidates) {
  const auto o = SGDOptions(0.1).momentum(0.9);
  Tensor a = param({1.0, 2.0, 3.0});
  SGD opt({a}, o);
  set_grad(a, {1.0, 1.0, 1.0});
  opt.step();
  const StateDict state = opt.state_dict();
  EXPECT_EQ(state.count("state.0.0.momentum_buffer"), 1u);
  EXPECT_EQ(state.count("param_groups.0.lr"), 1u);

  SGD two_params({param({1.0, 2.0, 3.0}), param({1.0})}, o);
  EXPECT_FF_ERROR(two_params.load_state_dict(state), "group 0", "1 parameter(s)", "has 2");
  SGD other_shape({param({1.0, 2.0})}, o);
  EXPECT_FF_ERROR(other_shape.load_state_dict(state), "3 elements", "float64[2]");
  Tensor reshaped = param({1, 2, 3}, DType::Float64, {3, 1});
  SGD same_numel({reshaped}, o);
  EXPECT_FF_ERROR(same_numel.load_state_dict(state), "state.0.0.momentum_buffer", "[3]", "[3, 1]");
  SGD two_groups({ParamGroup({param({1.0, 2.0, 3.0})}), ParamGroup({param({1.0})})}, o);
  EXPECT_FF_ERROR(two_groups.load_state_dict(state), "param_groups.1.param_numel");

  StateDict extra = state;
  extra["state.0.0.exp_avg"] = zeros({3}, DType::Float64);
  SGD target({param({1.0, 2.0, 3.0})}, o);
  EXPECT_FF_ERROR(target.load_state_dict(extra), "state.0.0.exp_avg");
  StateDict unknown = state;
  unknown["param_groups.0.betas"] = zeros({}, DType::Float64);
  EXPECT_FF_ERROR(target.load_state_dict(unknown), "unknown option 'betas'");
  StateDict missing = state;
  missing.erase("param_groups.0.lr");
  EXPECT_FF_ERROR(target.load_state_dict(missing), "param_groups.0.lr");
  StateDict bad_value = state;
  bad_value["param_groups.0.momentum"] = full({}, -1.0, DType::Float64);
  EXPECT_FF_ERROR(target.load_state_dict(bad_value), "momentum", "-1");
  // A failed load leaves the optimizer as it was.
  EXPECT_EQ(target.step_count(), 0);
  EXPECT_FALSE(target.state_tensor(0, 0, "momentum_buffer").defined());
}

}  // namespace
}  // namespace ff
