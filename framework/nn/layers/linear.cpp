#include "framework/nn/layers/linear.h"

#include <cmath>

#include "framework/common/check.h"
#include "framework/nn/init.h"
#include "ops/linalg/matmul.h"

namespace ff::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias)
    : in_features_(in_features), out_features_(out_features) {
  FF_CHECK(in_features > 0 && out_features > 0, "Linear: in_features ({}) and out_features ({}) must be positive",
           in_features, out_features);
  weight = register_parameter("weight", Tensor::empty({out_features, in_features}));
  if (with_bias) bias = register_parameter("bias", Tensor::empty({out_features}));
  reset_parameters();
}

void Linear::reset_parameters(Generator* gen) {
  // a = sqrt(5) gives gain sqrt(1/3), so the bound is 1/sqrt(fan_in), as in PyTorch.
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn, init::Nonlinearity::LeakyReLU, gen);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features_));
    init::uniform_(bias, -bound, bound, gen);
  }
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features_, out_features_,
                     bias.defined() ? "True" : "False");
}

Tensor Linear::forward(const Tensor& x) {
  check_defined(x, "Linear", "x");
  FF_CHECK(x.dim() >= 1 && x.size(-1) == in_features_, "{}({}): expected input [..., {}], got {}", name(),
           extra_repr(), in_features_, x.describe());
  return linear(x, weight, bias);
}

}  // namespace ff::nn
