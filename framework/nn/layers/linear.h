// Linear (fully connected) layer: y = x W^T + b.
//
//   input  x [..., in_features]   (any number of leading dims)
//   output y [..., out_features]
//   weight [out_features, in_features], bias [out_features] (not registered when bias = false)
//
// Default init (PyTorch): weight kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in));
// bias U(-1/sqrt(in), 1/sqrt(in)). arcface_torch's IResNet head uses Linear(25088, 512) with
// bias, MobileFaceNet's Linear(512, 512, bias = false).
#pragma once

#include <cstdint>
#include <string>

#include "framework/nn/module.h"

namespace ff {
class Generator;
}

namespace ff::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);

  // Re-draws weight and bias with the default init (from `gen`, or the default generator).
  void reset_parameters(Generator* gen = nullptr);

  std::string name() const override { return "Linear"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  int64_t in_features_;
  int64_t out_features_;
};

}  // namespace ff::nn
