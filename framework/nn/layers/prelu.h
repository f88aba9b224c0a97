// Parametric ReLU, like torch.nn.PReLU: y = x > 0 ? x : a[c] * x.
//
//   input x [N, C, ...] (or any shape when num_parameters == 1); output has x's shape.
//   weight [num_parameters]: one slope shared by all channels (1), or one per channel (C),
//   initialised to `init` (0.25 like PyTorch and arcface_torch, which uses PReLU(C) per channel).
#pragma once

#include <cstdint>
#include <string>

#include "framework/nn/module.h"

namespace ff::nn {

class PReLU : public Module {
 public:
  explicit PReLU(int64_t num_parameters = 1, double init = 0.25);

  std::string name() const override { return "PReLU"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

  int64_t num_parameters() const { return num_parameters_; }

  Tensor weight;

 private:
  int64_t num_parameters_;
};

}  // namespace ff::nn
