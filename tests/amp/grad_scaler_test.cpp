// GradScaler on the CPU: scaling, unscaling, step skipping on inf/NaN, growth and backoff,
// misuse errors, the disabled mode and state_dict round trips. The scaler only uses device-agnostic
// ops (mul, foreach_norm, foreach_scale_), so these tests cover its logic for CUDA as well.
#include "framework/amp/grad_scaler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "framework/optim/adamw.h"
#include "framework/optim/sgd.h"
#include "ops/reduce/reduce.h"
#include "tests/optim/optim_test_util.h"

namespace ff {
namespace {

using amp::GradScaler;
using amp::GradScalerOptions;
using optim::SGD;
using optim::SGDOptions;
using testing::param;
using testing::set_grad;
using testing::values;

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(GradScaler, DefaultsMatchPyTorch) {
  GradScaler scaler;
  EXPECT_TRUE(scaler.enabled());
  EXPECT_EQ(scaler.get_scale(), 65536.0);
  EXPECT_EQ(scaler.options().growth_factor(), 2.0);
  EXPECT_EQ(scaler.options().backoff_factor(), 0.5);
  EXPECT_EQ(scaler.options().growth_interval(), 2000);
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

TEST(GradScaler, ScaledLossGivesScaledGradientsAndStepMatchesUnscaledTraining) {
  // loss = sum(w * x); d loss / d w = x. With the scale, backward gives 65536 * x; step() must
  // apply exactly the update of the unscaled gradient.
  Tensor w = param({0.5, -1.0, 2.0}, DType::Float32);
  Tensor w_ref = param({0.5, -1.0, 2.0}, DType::Float32);
  const Tensor x = tensor_from(std::vector<float>{0.25f, -3.0f, 1.5f}, {3});
  SGD opt({w}, SGDOptions(0.1).momentum(0.9));
  SGD opt_ref({w_ref}, SGDOptions(0.1).momentum(0.9));
  GradScaler scaler;
  for (int it = 0; it < 3; ++it) {
    const Tensor loss = sum(w * x);
    scaler.scale(loss).backward();
    if (it == 0) {
      EXPECT_VALUES_NEAR(w.grad(), (std::vector<double>{0.25 * 65536, -3.0 * 65536, 1.5 * 65536}), 0.0);
    }
    EXPECT_TRUE(scaler.step(opt));
    EXPECT_FALSE(scaler.found_inf(opt));
    scaler.update();
    opt.zero_grad();

    sum(w_ref * x).backward();
    opt_ref.step();
    opt_ref.zero_grad();
    // Division by a power of two is exact: the parameters match bit for bit.
    EXPECT_EQ(values(w), values(w_ref)) << "iteration " << it;
  }
  EXPECT_EQ(scaler.get_scale(), 65536.0);
  EXPECT_EQ(scaler.growth_tracker(), 3);
}

TEST(GradScaler, UnscaleDividesGradientsSoClippingSeesTrueValues) {
  Tensor w = param({1.0, 2.0}, DType::Float32);
  SGD opt({w}, SGDOptions(0.5));
  GradScaler scaler(GradScalerOptions().init_scale(1024.0));
  set_grad(w, {1024.0 * 3.0, -1024.0 * 0.5});
  scaler.unscale_(opt);
  EXPECT_VALUES_NEAR(w.grad(), (std::vector<double>{3.0, -0.5}), 0.0);
  EXPECT_TRUE(scaler.step(opt));  // does not unscale a second time
  EXPECT_VALUES_NEAR(w, (std::vector<double>{1.0 - 1.5, 2.0 + 0.25}), 1e-7);
  scaler.update();
}

TEST(GradScaler, InfOrNanGradientSkipsTheStepAndBacksOff) {
  for (double bad : {kInf, -kInf, std::nan("")}) {
    Tensor w = param({1.0, 2.0, 3.0}, DType::Float32);
    Tensor b = param({0.5}, DType::Float32);
    SGD opt({w, b}, SGDOptions(0.1));
    GradScaler scaler(GradScalerOptions().growth_interval(3));
    // One clean iteration first, so the growth tracker has something to reset.
    set_grad(w, {1.0, 1.0, 1.0});
    set_grad(b, {1.0});
    EXPECT_TRUE(scaler.step(opt));
    scaler.update();
    EXPECT_EQ(scaler.growth_tracker(), 1);
    const std::vector<double> w_before = values(w), b_before = values(b);

    set_grad(w, {1.0, bad, 1.0});
    set_grad(b, {2.0});
    EXPECT_FALSE(scaler.step(opt)) << bad;
    EXPECT_TRUE(scaler.found_inf(opt));
    EXPECT_EQ(values(w), w_before);  // skipped: nothing moved
    EXPECT_EQ(values(b), b_before);
    scaler.update();
    EXPECT_EQ(scaler.get_scale(), 32768.0);
    EXPECT_EQ(scaler.growth_tracker(), 0);
    EXPECT_FALSE(scaler.found_inf(opt));  // cleared by update()
  }
}

TEST(GradScaler, GrowsAfterGrowthIntervalCleanStepsAndBacksOffRepeatedly) {
  Tensor w = param({1.0}, DType::Float32);
  SGD opt({w}, SGDOptions(0.0));
  GradScaler scaler(GradScalerOptions().init_scale(8.0).growth_interval(3));
  auto iterate = [&](double g) {
    set_grad(w, {g});
    scaler.step(opt);
    scaler.update();
  };
  iterate(1.0);
  iterate(1.0);
  EXPECT_EQ(scaler.get_scale(), 8.0);
  EXPECT_EQ(scaler.growth_tracker(), 2);
  iterate(1.0);  // third clean step: grows
  EXPECT_EQ(scaler.get_scale(), 16.0);
  EXPECT_EQ(scaler.growth_tracker(), 0);
  iterate(kInf);
  iterate(std::nan(""));
  EXPECT_EQ(scaler.get_scale(), 4.0);
  iterate(1.0);
  iterate(1.0);
  iterate(kInf);  // resets the count before it reaches 3
  iterate(1.0);
  iterate(1.0);
  EXPECT_EQ(scaler.get_scale(), 2.0);
  iterate(1.0);
  EXPECT_EQ(scaler.get_scale(), 4.0);
}

// An overflow found outside the optimizers (the trainer's loss or sparse FC gradient) backs off
// and restarts the growth count like an inf in an optimizer's gradients; update(new_scale), as
// in PyTorch, keeps the count.
TEST(GradScaler, OverflowOutsideTheOptimizersRestartsTheGrowthCount) {
  Tensor w = param({1.0}, DType::Float32);
  SGD opt({w}, SGDOptions(0.0));
  GradScaler scaler(GradScalerOptions().init_scale(8.0).growth_interval(3));
  auto clean_step = [&] {
    set_grad(w, {1.0});
    scaler.step(opt);
    scaler.update();
  };
  clean_step();
  clean_step();
  EXPECT_EQ(scaler.growth_tracker(), 2);
  set_grad(w, {1.0});
  scaler.unscale_(opt);  // finite here: the overflow was elsewhere
  scaler.update_after_overflow();
  EXPECT_EQ(scaler.get_scale(), 4.0);
  EXPECT_EQ(scaler.growth_tracker(), 0);
  clean_step();
  clean_step();
  EXPECT_EQ(scaler.get_scale(), 4.0);  // two clean steps since the overflow: no growth yet
  clean_step();
  EXPECT_EQ(scaler.get_scale(), 8.0);

  scaler.update(3.0);
  EXPECT_EQ(scaler.get_scale(), 3.0);
  clean_step();
  scaler.update(5.0);
  EXPECT_EQ(scaler.growth_tracker(), 1);

  GradScaler disabled(GradScalerOptions().enabled(false));
  disabled.update_after_overflow();
  EXPECT_EQ(disabled.get_scale(), 1.0);
}

TEST(GradScaler, GrowthStopsWhereTheScaleWouldOverflow) {
  Tensor w = param({1.0}, DType::Float32);
  SGD opt({w}, SGDOptions(0.0));
  GradScaler scaler(GradScalerOptions().init_scale(1e308).growth_interval(1));
  set_grad(w, {0.0});
  scaler.step(opt);
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 1e308);  // 2e308 is inf: kept
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

TEST(GradScaler, EachOptimizerSkipsOnItsOwnGradientsButBackoffIsShared) {
  Tensor a = param({1.0}, DType::Float32);
  Tensor b = param({1.0}, DType::Float32);
  SGD opt_a({a}, SGDOptions(0.5));
  SGD opt_b({b}, SGDOptions(0.5));
  GradScaler scaler(GradScalerOptions().init_scale(2.0));
  set_grad(a, {2.0});
  set_grad(b, {kInf});
  EXPECT_TRUE(scaler.step(opt_a));
  EXPECT_FALSE(scaler.step(opt_b));
  EXPECT_VALUES_NEAR(a, (std::vector<double>{0.5}), 0.0);  // 1 - 0.5 * (2 / 2)
  EXPECT_VALUES_NEAR(b, (std::vector<double>{1.0}), 0.0);
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 1.0);
}

TEST(GradScaler, ParametersWithoutGradientsAndAdamWWork) {
  Tensor used = param({1.0, -1.0}, DType::Float32);
  Tensor unused = param({5.0}, DType::Float32);
  optim::AdamW opt({used, unused}, optim::AdamWOptions(0.1).weight_decay(0.0));
  GradScaler scaler(GradScalerOptions().init_scale(4.0));
  set_grad(used, {4.0 * 0.3, 4.0 * -0.2});
  EXPECT_TRUE(scaler.step(opt));
  scaler.update();
  // First AdamW step moves each element by ~lr * sign(g).
  EXPECT_VALUES_NEAR(used, (std::vector<double>{0.9, -0.9}), 1e-6);
  EXPECT_VALUES_NEAR(unused, (std::vector<double>{5.0}), 0.0);
}

TEST(GradScaler, MisuseIsReported) {
  Tensor w = param({1.0}, DType::Float32);
  SGD opt({w}, SGDOptions(0.1));
  GradScaler scaler;
  EXPECT_FF_ERROR(scaler.update(), "no inf checks were recorded");
  set_grad(w, {1.0});
  scaler.unscale_(opt);
  EXPECT_FF_ERROR(scaler.unscale_(opt), "already been called");
  scaler.step(opt);
  EXPECT_FF_ERROR(scaler.step(opt), "already been called");
  EXPECT_FF_ERROR(scaler.unscale_(opt), "after step()");
  scaler.update();
  set_grad(w, {1.0});
  EXPECT_TRUE(scaler.step(opt));  // a fresh iteration after update() is fine
  scaler.update();
  EXPECT_FF_ERROR(scaler.update(0.0), "new scale");
  EXPECT_FF_ERROR(GradScaler(GradScalerOptions().growth_factor(1.0)), "growth_factor");
  EXPECT_FF_ERROR(GradScaler(GradScalerOptions().backoff_factor(1.5)), "backoff_factor");
  EXPECT_FF_ERROR(GradScaler(GradScalerOptions().growth_interval(0)), "growth_interval");
  EXPECT_FF_ERROR(GradScaler(GradScalerOptions().init_scale(-1.0)), "init_scale");
}

TEST(GradScaler, Float16GradientsAreRefusedUnlessAllowed) {
  Tensor w = param({1.0, 2.0}, DType::Float16);
  SGD opt({w}, SGDOptions(0.1));
  set_grad(w, {256.0, 512.0});
  GradScaler strict(GradScalerOptions().init_scale(256.0));
  EXPECT_FF_ERROR(strict.unscale_(opt), "float16 gradient", "master");
  GradScaler lenient(GradScalerOptions().init_scale(256.0).allow_fp16_grads(true));
  lenient.unscale_(opt);
  EXPECT_VALUES_NEAR(w.grad(), (std::vector<double>{1.0, 2.0}), 0.0);
  // bfloat16 gradients are allowed (though bf16 needs no scaling).
  Tensor v = param({1.0}, DType::BFloat16);
  SGD opt_v({v}, SGDOptions(0.1));
  set_grad(v, {512.0});
  GradScaler bf(GradScalerOptions().init_scale(256.0));
  EXPECT_TRUE(bf.step(opt_v));
  EXPECT_VALUES_NEAR(v, (std::vector<double>{0.8}), 1e-2);
}

TEST(GradScaler, DisabledScalerIsAPassThrough) {
  Tensor w = param({1.0}, DType::Float32);
  SGD opt({w}, SGDOptions(0.5));
  GradScaler scaler(GradScalerOptions().enabled(false));
  EXPECT_EQ(scaler.get_scale(), 1.0);
  const Tensor loss = sum(w * 3.0);
  EXPECT_TRUE(scaler.scale(loss).is_same(loss));
  scaler.scale(loss).backward();
  EXPECT_VALUES_NEAR(w.grad(), (std::vector<double>{3.0}), 0.0);
  scaler.unscale_(opt);
  EXPECT_VALUES_NEAR(w.grad(), (std::vector<double>{3.0}), 0.0);
  set_grad(w, {kInf});
  EXPECT_TRUE(scaler.step(opt));  // no checks when disabled
  scaler.update();
}

TEST(GradScaler, StateDictRoundTrip) {
  Tensor w = param({1.0}, DType::Float32);
  SGD opt({w}, SGDOptions(0.0));
  GradScaler a(GradScalerOptions().init_scale(512.0).growth_interval(5).backoff_factor(0.25));
  set_grad(w, {1.0});
  a.step(opt);
  a.update();
  set_grad(w, {1.0});
  a.step(opt);
  a.update();
  const StateDict sd = a.state_dict();
  EXPECT_EQ(sd.at("scale").item<double>(), 512.0);
  EXPECT_EQ(sd.at("growth_tracker").item<int64_t>(), 2);

  GradScaler b;
  b.load_state_dict(sd);
  EXPECT_EQ(b.get_scale(), 512.0);
  EXPECT_EQ(b.growth_tracker(), 2);
  EXPECT_EQ(b.options().growth_interval(), 5);
  EXPECT_EQ(b.options().backoff_factor(), 0.25);
  // Both continue identically: three more clean steps grow the scale at the fifth.
  for (GradScaler* s : {&a, &b}) {
    for (int i = 0; i < 3; ++i) {
      set_grad(w, {1.0});
      s->step(opt);
      s->update();
    }
    EXPECT_EQ(s->get_scale(), 1024.0);
  }

  StateDict bad = sd;
  bad["extra"] = sd.at("scale");
  EXPECT_FF_ERROR(b.load_state_dict(bad), "unexpected key 'extra'");
  StateDict missing = sd;
  missing.erase("growth_tracker");
  EXPECT_FF_ERROR(b.load_state_dict(missing), "missing key 'growth_tracker'");
  StateDict negative = sd;
  negative["scale"] = full({}, -1.0, DType::Float64);
  EXPECT_FF_ERROR(b.load_state_dict(negative), "scale must be finite");
  EXPECT_EQ(b.get_scale(), 1024.0);  // unchanged by the failed loads
}

}  // namespace
}  // namespace ff
