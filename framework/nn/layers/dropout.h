// Dropout layer, like torch.nn.Dropout (inverted dropout), any shape.
//
// Training: zeroes each element with probability p and scales the others by 1 / (1 - p).
// Eval, or p == 0: identity. p must lie in [0, 1) (p = 1 would zero everything). arcface_torch's IResNet head builds Dropout(p = 0).
// The mask is drawn from `generator` (the default generator when null), which must outlive
// the layer.
#pragma once

#include <string>

#include "framework/nn/module.h"

namespace ff {
class Generator;
}

namespace ff::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* generator = nullptr);

  std::string name() const override { return "Dropout"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

  double p() const { return p_; }

 private:
  double p_;
  Generator* generator_;
};

}  // namespace ff::nn
