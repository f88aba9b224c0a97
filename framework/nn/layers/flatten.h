// Flatten layer, like torch.nn.Flatten: merges dims start_dim..end_dim (inclusive, negative
// dims count from the end) into one.
//   Default (1, -1): x [N, C, H, W] -> [N, C * H * W], e.g. arcface_torch's IResNet head
//   [N, 512, 7, 7] -> [N, 25088]. A view when the layout allows, otherwise a copy.
#pragma once

#include <cstdint>
#include <string>

#include "framework/nn/module.h"

namespace ff::nn {

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim_(start_dim), end_dim_(end_dim) {}

  std::string name() const override { return "Flatten"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

 private:
  int64_t start_dim_;
  int64_t end_dim_;
};

}  // namespace ff::nn
