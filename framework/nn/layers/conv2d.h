// 2-D convolution layer (cross-correlation, NCHW), like torch.nn.Conv2d with zero padding.
//
//   input  x [N, in_channels, H, W]
//   output y [N, out_channels, H_out, W_out],
//          H_out = (H + 2 padding_h - dilation_h (kernel_h - 1) - 1) / stride_h + 1 (same for W)
//   weight [out_channels, in_channels / groups, kernel_h, kernel_w]
//   bias   [out_channels] (not registered when bias = false)
//
// `bias` defaults to true like PyTorch; arcface_torch passes bias=False for every conv that
// is followed by BatchNorm, so write Conv2dOptions(3, 64, 3).set_padding(1).set_bias(false).
// Default init (PyTorch): weight kaiming_uniform_(a = sqrt(5)), bias U(-1/sqrt(fan_in),
// 1/sqrt(fan_in)) with fan_in = in_channels / groups * kernel_h * kernel_w. arcface_torch's
// IResNet re-initialises conv weights with N(0, 0.1) (see nn::init::normal_).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "framework/nn/module.h"
#include "ops/conv/conv2d.h"

namespace ff {
class Generator;
}

namespace ff::nn {

// Plain fields, or chained setters: Conv2dOptions(64, 128, 3).set_stride(2).set_padding(1).
// Scalar setters apply the value to both spatial dims.
struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : Conv2dOptions(in_channels, out_channels, {kernel_size, kernel_size}) {}
  Conv2dOptions(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel_size)
      : in_channels(in_channels), out_channels(out_channels), kernel_size(kernel_size) {}

  Conv2dOptions& set_stride(int64_t s) { return set_stride({s, s}); }
  Conv2dOptions& set_stride(std::array<int64_t, 2> s) { stride = s; return *this; }
  Conv2dOptions& set_padding(int64_t p) { return set_padding({p, p}); }
  Conv2dOptions& set_padding(std::array<int64_t, 2> p) { padding = p; return *this; }
  Conv2dOptions& set_dilation(int64_t d) { return set_dilation({d, d}); }
  Conv2dOptions& set_dilation(std::array<int64_t, 2> d) { dilation = d; return *this; }
  Conv2dOptions& set_groups(int64_t g) { groups = g; return *this; }
  Conv2dOptions& set_bias(bool b) { bias = b; return *this; }

  int64_t in_channels;
  int64_t out_channels;
  std::array<int64_t, 2> kernel_size;
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};   // zeros on both sides of each spatial dim
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;                      // in_channels and out_channels must divide by it
  bool bias = true;
};

class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& options);

  // Re-draws weight and bias with the default init (from `gen`, or the default generator).
  void reset_parameters(Generator* gen = nullptr);

  std::string name() const override { return "Conv2d"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

  const Conv2dOptions& options() const { return options_; }

  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  Conv2dOptions options_;
  Conv2dParams params_;  // the op's view of the options
};

}  // namespace ff::nn
