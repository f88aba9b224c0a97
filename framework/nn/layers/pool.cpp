#include "framework/nn/layers/pool.h"

#include "framework/common/check.h"

namespace ff::nn {

namespace {

std::string pair_str(const std::array<int64_t, 2>& v) { return fmt::format("({}, {})", v[0], v[1]); }

Pool2dParams validated_params(const Pool2dOptions& o, const char* layer) {
  for (int i = 0; i < 2; ++i) {
    FF_CHECK(o.kernel_size[i] > 0, "{}: kernel_size must be positive, got {}", layer, pair_str(o.kernel_size));
    FF_CHECK(o.stride[i] > 0, "{}: stride must be positive, got {}", layer, pair_str(o.stride));
    FF_CHECK(o.padding[i] >= 0 && o.padding[i] <= o.kernel_size[i] / 2,
             "{}: padding {} must lie in [0, kernel_size / 2] for kernel_size {}", layer, pair_str(o.padding),
             pair_str(o.kernel_size));
  }
  Pool2dParams p;
  p.kernel = o.kernel_size;
  p.stride = o.stride;
  p.padding = o.padding;
  p.ceil_mode = o.ceil_mode;
  return p;
}

void check_nchw(const Module& m, const Tensor& x) {
  check_defined(x, m.name().c_str(), "x");
  FF_CHECK(x.dim() == 4, "{}({}): expected input [N, C, H, W], got {}", m.name(), m.extra_repr(), x.describe());
}

}  // namespace

WindowPool2d::WindowPool2d(const Pool2dOptions& options, const char* layer)
    : options_(options), params_(validated_params(options, layer)) {}

std::string WindowPool2d::options_repr() const {
  const Pool2dOptions& o = options_;
  return fmt::format("kernel_size={}, stride={}, padding={}, ceil_mode={}", pair_str(o.kernel_size),
                     pair_str(o.stride), pair_str(o.padding), o.ceil_mode ? "True" : "False");
}

Tensor MaxPool2d::forward(const Tensor& x) {
  check_nchw(*this, x);
  return max_pool2d(x, params());
}

std::string AvgPool2d::extra_repr() const {
  return options_repr() + fmt::format(", count_include_pad={}", count_include_pad_ ? "True" : "False");
}

Tensor AvgPool2d::forward(const Tensor& x) {
  check_nchw(*this, x);
  return avg_pool2d(x, params(), count_include_pad_);
}

Tensor GlobalAvgPool2d::forward(const Tensor& x) {
  check_nchw(*this, x);
  return global_avg_pool2d(x);
}

}  // namespace ff::nn
