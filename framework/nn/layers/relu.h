// ReLU layer, like torch.nn.ReLU: y = max(x, 0), elementwise, any shape.
#pragma once

#include <string>

#include "framework/nn/module.h"

namespace ff::nn {

class ReLU : public Module {
 public:
  ReLU() = default;
  std::string name() const override { return "ReLU"; }
  Tensor forward(const Tensor& x) override;
};

}  // namespace ff::nn
