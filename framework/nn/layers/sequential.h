// Sequential: runs its children in order, each one's output feeding the next.
//
//   auto stem = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
//       std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 64, 3).set_padding(1).set_bias(false)),
//       std::make_shared<nn::BatchNorm2d>(64),
//       std::make_shared<nn::PReLU>(64)});
//   Tensor y = (*stem)(x);  // x [N, 3, H, W] -> y [N, 64, H, W]
//
// Children are named "0", "1", ... (so parameters are "0.weight", "1.running_mean", ...),
// matching PyTorch's nn.Sequential state_dict keys. Every child must implement the
// single-input forward. An empty Sequential is the identity. An ff::Error raised by a child is
// re-raised with a line naming the child ("in Sequential (3): Linear").
#pragma once

#include <initializer_list>
#include <memory>
#include <string>

#include "framework/nn/layers/module_list.h"

namespace ff::nn {

class Sequential : public ModuleSequence {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules) : ModuleSequence(modules) {}

  std::string name() const override { return "Sequential"; }
  Tensor forward(const Tensor& x) override;
};

}  // namespace ff::nn
