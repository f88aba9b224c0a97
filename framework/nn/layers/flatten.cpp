#include "framework/nn/layers/flatten.h"

namespace ff::nn {

std::string Flatten::extra_repr() const { return fmt::format("start_dim={}, end_dim={}", start_dim_, end_dim_); }

Tensor Flatten::forward(const Tensor& x) {
  check_defined(x, "Flatten", "x");
  return x.flatten(start_dim_, end_dim_);
}

}  // namespace ff::nn
