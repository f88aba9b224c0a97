// LR schedules: values at chosen steps, agreement with arcface_torch's recursive
// PolynomialLRWarmup, state round trips and configuration errors.
#include "framework/optim/lr_scheduler.h"

#include <gtest/gtest.h>

#include <cmath>

#include "framework/optim/sgd.h"
#include "tests/optim/optim_test_util.h"

namespace ff {
namespace {

using namespace ff::optim;

using testing::param;

// An optimizer with two groups, base lrs 0.1 and 0.1 / 3 (arcface_torch's lr_scheduler.py demo).
struct TwoGroups {
  Tensor a = param({1.0}), b = param({1.0});
  SGD opt{{ParamGroup({a}), ParamGroup({b}, {{"lr", 0.1 / 3}})}, SGDOptions(0.1)};
};

void step_to(LRScheduler& s, int64_t step) {
  while (s.last_step() < step) s.step();
}

TEST(PolynomialLRWarmup, ValuesAtChosenSteps) {
  TwoGroups t;
  PolynomialLRWarmup s(t.opt, /*warmup_steps=*/10, /*total_steps=*/100, /*power=*/2.0);
  // Step 0: arcface_torch keeps the base lr (its get_lr returns the group lr at last_epoch 0).
  EXPECT_DOUBLE_EQ(s.get_last_lr()[0], 0.1);
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.1);
  EXPECT_DOUBLE_EQ(t.opt.lr(1), 0.1 / 3);
  step_to(s, 1);
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.1 * 1 / 10);  // warmup start
  step_to(s, 5);
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.1 * 5 / 10);  // warmup middle
  EXPECT_DOUBLE_EQ(t.opt.lr(1), 0.1 / 3 * 5 / 10);
  step_to(s, 10);
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.1);  // warmup end
  step_to(s, 55);
  // 0.1 * (1 - (55 - 10) / (100 - 10))^2 = 0.1 * 0.5^2
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.025);
  EXPECT_DOUBLE_EQ(s.get_last_lr()[0], 0.025);
  step_to(s, 100);
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.0);  // end
  step_to(s, 130);
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.0);  // beyond the end
  EXPECT_DOUBLE_EQ(t.opt.lr(1), 0.0);
}

TEST(PolynomialLRWarmup, PureFormulaAtStepZeroOnRequest) {
  TwoGroups t;
  PolynomialLRWarmup s(t.opt, 4, 20, 1.0, /*step0_uses_base_lr=*/false);
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.0);
  s.step();
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.025);
  // Linear decay: step 12 is halfway through (4, 20].
  step_to(s, 12);
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.05);
}

TEST(PolynomialLRWarmup, MatchesArcfaceTorchRecursiveForm) {
  // arcface_torch's get_lr(): l == 0 or l > T: unchanged; l <= w: base * l / w;
  // else lr *= ((1 - (l - w) / (T - w)) / (1 - (l - 1 - w) / (T - w)))^power.
  const int64_t w = 7, T = 40;
  const double power = 2.0, base = 0.1;
  TwoGroups t;
  PolynomialLRWarmup s(t.opt, w, T, power);
  double chained = base;
  for (int64_t l = 0; l <= T + 5; ++l) {
    if (l > 0) {
      s.step();
      if (l > T) {
        // unchanged
      } else if (l <= w) {
        chained = base * static_cast<double>(l) / static_cast<double>(w);
      } else {
        const double num = 1.0 - static_cast<double>(l - w) / static_cast<double>(T - w);
        const double den = 1.0 - static_cast<double>(l - 1 - w) / static_cast<double>(T - w);
        chained *= std::pow(num / den, power);
      }
    }
    EXPECT_NEAR(t.opt.lr(0), chained, 1e-15) << "step " << l;
  }
}

TEST(PolynomialLRWarmup, InvalidConfigs) {
  TwoGroups t;
  EXPECT_FF_ERROR(PolynomialLRWarmup(t.opt, 100, 100), "total_steps (100)", "warmup_steps (100)");
  EXPECT_FF_ERROR(PolynomialLRWarmup(t.opt, 10, 5), "greater than warmup_steps");
  EXPECT_FF_ERROR(PolynomialLRWarmup(t.opt, -1, 5), "warmup_steps must be >= 0");
  EXPECT_FF_ERROR(PolynomialLRWarmup(t.opt, 1, 5, 0.0), "power");
  // No warmup is valid: the decay starts at once.
  PolynomialLRWarmup s(t.opt, 0, 10);
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.1);
  s.step();
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.09);
}

TEST(MultiStepLR, BoundariesAndErrors) {
  TwoGroups t;
  MultiStepLR s(t.opt, {3, 6}, 0.1);
  const std::vector<double> expected = {0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001};
  for (size_t l = 0; l < expected.size(); ++l) {
    step_to(s, static_cast<int64_t>(l));
    EXPECT_NEAR(t.opt.lr(0), expected[l], 1e-15) << "step " << l;
    EXPECT_NEAR(t.opt.lr(1), expected[l] / 3, 1e-15) << "step " << l;
  }
  EXPECT_FF_ERROR(MultiStepLR(t.opt, {6, 3}), "strictly increasing");
  EXPECT_FF_ERROR(MultiStepLR(t.opt, {0}), "milestones must be >= 1");
  EXPECT_FF_ERROR(MultiStepLR(t.opt, {3}, 0.0), "gamma");
}

TEST(CosineAnnealingLR, ValuesWithAndWithoutWarmup) {
  TwoGroups t;
  CosineAnnealingLR s(t.opt, /*t_max=*/10, /*eta_min=*/0.001);
  EXPECT_DOUBLE_EQ(t.opt.lr(0), 0.1);  // T = 0
  step_to(s, 5);
  EXPECT_NEAR(t.opt.lr(0), 0.001 + 0.099 * 0.5, 1e-15);  // T/2: halfway between base and eta_min
  step_to(s, 10);
  EXPECT_NEAR(t.opt.lr(0), 0.001, 1e-15);  // T

  TwoGroups u;
  CosineAnnealingLR w(u.opt, /*t_max=*/12, /*eta_min=*/0.001, /*warmup_steps=*/2);
  EXPECT_DOUBLE_EQ(u.opt.lr(0), 0.0);
  step_to(w, 1);
  EXPECT_DOUBLE_EQ(u.opt.lr(0), 0.05);
  step_to(w, 2);
  EXPECT_DOUBLE_EQ(u.opt.lr(0), 0.1);
  step_to(w, 7);
  EXPECT_NEAR(u.opt.lr(0), 0.001 + 0.099 * 0.5, 1e-15);
  step_to(w, 12);
  EXPECT_NEAR(u.opt.lr(0), 0.001, 1e-15);

  EXPECT_FF_ERROR(CosineAnnealingLR(u.opt, 5, 0.0, 5), "T_max (5)");
  EXPECT_FF_ERROR(CosineAnnealingLR(u.opt, 5, -1.0), "eta_min");
}

TEST(LRScheduler, StateRoundTripResumesTheSchedule) {
  TwoGroups t;
  PolynomialLRWarmup s(t.opt, 10, 100, 2.0);
  step_to(s, 37);
  const StateDict state = s.state_dict();
  EXPECT_EQ(state.at("last_step").item<int64_t>(), 37);
  EXPECT_EQ(state.at("last_step").dtype(), DType::Int64);
  EXPECT_EQ(state.at("base_lrs.1").dtype(), DType::Float64);

  // A restarted process: the optimizer's lr is the configured base again, the scheduler is new.
  TwoGroups r;
  PolynomialLRWarmup resumed(r.opt, 10, 100, 2.0);
  resumed.load_state_dict(state);
  EXPECT_EQ(resumed.last_step(), 37);
  EXPECT_DOUBLE_EQ(r.opt.lr(0), t.opt.lr(0));
  EXPECT_DOUBLE_EQ(r.opt.lr(1), t.opt.lr(1));
  s.step();
  resumed.step();
  EXPECT_DOUBLE_EQ(r.opt.lr(0), t.opt.lr(0));
  EXPECT_EQ(resumed.get_last_lr(), s.get_last_lr());
}

TEST(LRScheduler, LoadRejectsADifferentSchedule) {
  TwoGroups t;
  PolynomialLRWarmup s(t.opt, 10, 100, 2.0);
  step_to(s, 3);
  StateDict state = s.state_dict();
  TwoGroups r;
  PolynomialLRWarmup longer(r.opt, 10, 200, 2.0);
  EXPECT_FF_ERROR(longer.load_state_dict(state), "total_steps = 100", "total_steps = 200");
  EXPECT_EQ(longer.last_step(), 0);  // unchanged by the failed load
  MultiStepLR other(r.opt, {5});
  EXPECT_FF_ERROR(other.load_state_dict(state), "setting 'power'");
  // Without the config entries the caller resumes under the new settings on purpose.
  for (auto it = state.begin(); it != state.end();) it = it->first.rfind("config.", 0) == 0 ? state.erase(it) : ++it;
  longer.load_state_dict(state);
  EXPECT_EQ(longer.last_step(), 3);
  EXPECT_DOUBLE_EQ(r.opt.lr(0), 0.03);
  state.erase("base_lrs.1");
  EXPECT_FF_ERROR(longer.load_state_dict(state), "base_lrs.1");
}

}  // namespace
}  // namespace ff
