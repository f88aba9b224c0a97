#include "framework/nn/layers/conv2d.h"

#include <cmath>

#include "framework/common/check.h"
#include "framework/nn/init.h"

namespace ff::nn {

namespace {

std::string pair_str(const std::array<int64_t, 2>& v) { return fmt::format("({}, {})", v[0], v[1]); }

void validate(const Conv2dOptions& o) {
  const std::string what = fmt::format("Conv2d({}, {}, kernel_size={})", o.in_channels, o.out_channels,
                                       pair_str(o.kernel_size));
  FF_CHECK(o.in_channels > 0 && o.out_channels > 0, "{}: channel counts must be positive", what);
  FF_CHECK(o.groups > 0, "{}: groups must be positive, got {}", what, o.groups);
  FF_CHECK(o.in_channels % o.groups == 0 && o.out_channels % o.groups == 0,
           "{}: in_channels ({}) and out_channels ({}) must both be divisible by groups ({})", what, o.in_channels,
           o.out_channels, o.groups);
  for (int i = 0; i < 2; ++i) {
    FF_CHECK(o.kernel_size[i] > 0, "{}: kernel_size must be positive", what);
    FF_CHECK(o.stride[i] > 0, "{}: stride must be positive, got {}", what, pair_str(o.stride));
    FF_CHECK(o.padding[i] >= 0, "{}: padding must be non-negative, got {}", what, pair_str(o.padding));
    FF_CHECK(o.dilation[i] > 0, "{}: dilation must be positive, got {}", what, pair_str(o.dilation));
  }
}

}  // namespace

Conv2d::Conv2d(const Conv2dOptions& options) : options_(options) {
  validate(options_);
  params_.stride = options_.stride;
  params_.padding = options_.padding;
  params_.dilation = options_.dilation;
  params_.groups = options_.groups;
  weight = register_parameter("weight", Tensor::empty({options_.out_channels, options_.in_channels / options_.groups,
                                                       options_.kernel_size[0], options_.kernel_size[1]}));
  if (options_.bias) bias = register_parameter("bias", Tensor::empty({options_.out_channels}));
  reset_parameters();
}

void Conv2d::reset_parameters(Generator* gen) {
  // a = sqrt(5) gives a bound of 1/sqrt(fan_in), as in PyTorch.
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn, init::Nonlinearity::LeakyReLU, gen);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(init::calculate_fans(weight).fan_in));
    init::uniform_(bias, -bound, bound, gen);
  }
}

std::string Conv2d::extra_repr() const {
  const Conv2dOptions& o = options_;
  std::string s = fmt::format("{}, {}, kernel_size={}, stride={}", o.in_channels, o.out_channels,
                              pair_str(o.kernel_size), pair_str(o.stride));
  if (o.padding != std::array<int64_t, 2>{0, 0}) s += ", padding=" + pair_str(o.padding);
  if (o.dilation != std::array<int64_t, 2>{1, 1}) s += ", dilation=" + pair_str(o.dilation);
  if (o.groups != 1) s += fmt::format(", groups={}", o.groups);
  if (!o.bias) s += ", bias=False";
  return s;
}

Tensor Conv2d::forward(const Tensor& x) {
  check_defined(x, "Conv2d", "x");
  FF_CHECK(x.dim() == 4 && x.size(1) == options_.in_channels, "{}({}): expected input [N, {}, H, W], got {}",
           name(), extra_repr(), options_.in_channels, x.describe());
  return conv2d(x, weight, bias, params_);
}

}  // namespace ff::nn
