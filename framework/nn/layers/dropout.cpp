#include "framework/nn/layers/dropout.h"

#include "framework/common/check.h"
#include "ops/activation/activation.h"

namespace ff::nn {

Dropout::Dropout(double p, Generator* generator) : p_(p), generator_(generator) {
  FF_CHECK(p >= 0.0 && p < 1.0, "Dropout: probability p must lie in [0, 1), got {}", p);
}

std::string Dropout::extra_repr() const { return "p=" + repr_float(p_); }

Tensor Dropout::forward(const Tensor& x) {
  check_defined(x, "Dropout", "x");
  return dropout(x, p_, is_training(), generator_);
}

}  // namespace ff::nn
