#include "framework/nn/init.h"

#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "ops/tensor_ops/random.h"

namespace ff::nn::init {

// Calls below are qualified: ff::uniform_/ff::normal_ (ops/tensor_ops/random.h) have the same
// signatures and are found by argument-dependent lookup.

namespace {

void check_fillable(const Tensor& t, const char* op) {
  FF_CHECK(t.defined(), "init.{}: tensor is undefined", op);
  FF_CHECK(is_floating(t.dtype()), "init.{}: tensor must be floating point, got {}", op, t.describe());
}

int64_t fan_for(const Tensor& t, FanMode mode) {
  const Fans fans = calculate_fans(t);
  return mode == FanMode::FanIn ? fans.fan_in : fans.fan_out;
}

}  // namespace

Fans calculate_fans(const Tensor& weight) {
  FF_CHECK(weight.defined(), "init: fan computation on an undefined tensor");
  FF_CHECK(weight.dim() >= 2,
           "init: fan_in/fan_out need a weight with at least 2 dims ([out, in, ...]), got {}; use "
           "constant_/normal_/uniform_ for biases and scales",
           weight.describe());
  int64_t receptive = 1;
  for (int64_t d = 2; d < weight.dim(); ++d) receptive *= weight.size(d);
  return Fans{weight.size(1) * receptive, weight.size(0) * receptive};
}

double calculate_gain(Nonlinearity nonlinearity, double negative_slope) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv:
    case Nonlinearity::Sigmoid: return 1.0;
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::ReLU: return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: return std::sqrt(2.0 / (1.0 + negative_slope * negative_slope));
    case Nonlinearity::SELU: return 3.0 / 4.0;
  }
  FF_THROW("init.calculate_gain: unknown nonlinearity {}", static_cast<int>(nonlinearity));
}

void constant_(const Tensor& t, double value) {
  check_fillable(t, "constant_");
  autograd::NoGradGuard no_grad;
  Tensor target = t;
  target.fill_(value);
}

void zeros_(const Tensor& t) { constant_(t, 0.0); }
void ones_(const Tensor& t) { constant_(t, 1.0); }

void normal_(const Tensor& t, double mean, double std, Generator* gen) {
  check_fillable(t, "normal_");
  FF_CHECK(std >= 0.0, "init.normal_: std must be non-negative, got {}", std);
  if (t.numel() == 0) return;
  autograd::NoGradGuard no_grad;
  ::ff::normal_(t, mean, std, gen);
}

void uniform_(const Tensor& t, double a, double b, Generator* gen) {
  check_fillable(t, "uniform_");
  FF_CHECK(a <= b, "init.uniform_: lower bound {} exceeds upper bound {}", a, b);
  if (t.numel() == 0) return;
  autograd::NoGradGuard no_grad;
  ::ff::uniform_(t, a, b, gen);
}

void kaiming_uniform_(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  check_fillable(t, "kaiming_uniform_");
  const int64_t fan = fan_for(t, mode);
  if (t.numel() == 0) return;  // nothing to fill, and the fan may be zero
  const double bound = calculate_gain(nonlinearity, a) * std::sqrt(3.0 / static_cast<double>(fan));
  init::uniform_(t, -bound, bound, gen);
}

void kaiming_normal_(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  check_fillable(t, "kaiming_normal_");
  const int64_t fan = fan_for(t, mode);
  if (t.numel() == 0) return;
  init::normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan)), gen);
}

void xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  check_fillable(t, "xavier_uniform_");
  const Fans fans = calculate_fans(t);
  if (t.numel() == 0) return;
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fans.fan_in + fans.fan_out));
  init::uniform_(t, -bound, bound, gen);
}

void xavier_normal_(const Tensor& t, double gain, Generator* gen) {
  check_fillable(t, "xavier_normal_");
  const Fans fans = calculate_fans(t);
  if (t.numel() == 0) return;
  init::normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fans.fan_in + fans.fan_out)), gen);
}

}  // namespace ff::nn::init
