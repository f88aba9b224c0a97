#include "framework/nn/layers/prelu.h"

#include "framework/common/check.h"
#include "ops/activation/activation.h"
#include "ops/tensor_ops/fill.h"

namespace ff::nn {

PReLU::PReLU(int64_t num_parameters, double init) : num_parameters_(num_parameters) {
  FF_CHECK(num_parameters > 0, "PReLU: num_parameters must be positive, got {}", num_parameters);
  weight = register_parameter("weight", full({num_parameters}, init));
}

std::string PReLU::extra_repr() const { return fmt::format("num_parameters={}", num_parameters_); }

Tensor PReLU::forward(const Tensor& x) {
  check_defined(x, "PReLU", "x");
  if (num_parameters_ > 1) {
    FF_CHECK(x.dim() >= 2 && x.size(1) == num_parameters_,
             "{}({}): one slope per channel needs input [N, {}, ...], got {}", name(), extra_repr(), num_parameters_,
             x.describe());
  }
  return prelu(x, weight);
}

}  // namespace ff::nn
