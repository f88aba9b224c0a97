#include "framework/nn/layers/relu.h"

#include "ops/activation/activation.h"

namespace ff::nn {

Tensor ReLU::forward(const Tensor& x) {
  check_defined(x, "ReLU", "x");
  return relu(x);
}

}  // namespace ff::nn
