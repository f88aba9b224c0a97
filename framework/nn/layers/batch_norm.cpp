#include "framework/nn/layers/batch_norm.h"

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "framework/nn/init.h"
#include "ops/elementwise/binary.h"
#include "ops/norm/batch_norm.h"
#include "ops/tensor_ops/fill.h"

namespace ff::nn {

BatchNormBase::BatchNormBase(const BatchNormOptions& options) : options_(options) {
  const int64_t c = options_.num_features;
  FF_CHECK(c > 0, "BatchNorm: num_features must be positive, got {}", c);
  FF_CHECK(options_.eps > 0.0, "BatchNorm({}): eps must be positive, got {}", c, options_.eps);
  FF_CHECK(!options_.momentum || (*options_.momentum >= 0.0 && *options_.momentum <= 1.0),
           "BatchNorm({}): momentum must lie in [0, 1], got {}", c, options_.momentum.value_or(0.0));
  if (options_.affine) {
    weight = register_parameter("weight", ones({c}));
    bias = register_parameter("bias", zeros({c}));
  }
  if (options_.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({c}));
    running_var = register_buffer("running_var", ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, DType::Int64));
  }
}

void BatchNormBase::reset_running_stats() {
  if (!options_.track_running_stats) return;
  autograd::NoGradGuard no_grad;
  running_mean.fill_(0.0);
  running_var.fill_(1.0);
  num_batches_tracked.fill_(0.0);
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (options_.affine) {
    init::ones_(weight);
    init::zeros_(bias);
  }
}

std::string BatchNormBase::extra_repr() const {
  const BatchNormOptions& o = options_;
  const std::string momentum = o.momentum ? repr_float(*o.momentum) : "None";
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", o.num_features, repr_float(o.eps),
                     momentum, o.affine ? "True" : "False", o.track_running_stats ? "True" : "False");
}

Tensor BatchNormBase::forward(const Tensor& x) {
  check_defined(x, "BatchNorm", "x");
  check_input_dim(x);
  FF_CHECK(x.size(1) == options_.num_features, "{}({}): expected {} channels in dim 1, got {}", name(),
           extra_repr(), options_.num_features, x.describe());
  const bool training = is_training();
  if (training) {
    FF_CHECK(x.numel() / options_.num_features > 1,
             "{}({}): expected more than 1 value per channel when training, got {}", name(), extra_repr(),
             x.describe());
  }
  double momentum = options_.momentum.value_or(0.0);
  if (training && options_.track_running_stats) {
    autograd::NoGradGuard no_grad;
    add_(num_batches_tracked, full({}, 1.0, DType::Int64, num_batches_tracked.device()));
    if (!options_.momentum) momentum = 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
  }
  // Without running stats there is nothing to normalise with in eval: use the batch, like PyTorch.
  const bool use_batch_stats = training || !options_.track_running_stats;
  return batch_norm(x, weight, bias, running_mean, running_var, use_batch_stats, momentum, options_.eps);
}

void BatchNorm1d::check_input_dim(const Tensor& x) const {
  FF_CHECK(x.dim() == 2 || x.dim() == 3, "{}({}): expected input [N, C] or [N, C, L], got {}", name(), extra_repr(),
           x.describe());
}

void BatchNorm2d::check_input_dim(const Tensor& x) const {
  FF_CHECK(x.dim() == 4, "{}({}): expected input [N, C, H, W], got {}", name(), extra_repr(), x.describe());
}

}  // namespace ff::nn
