// 2-D pooling layers (NCHW), like torch.nn.MaxPool2d / AvgPool2d / AdaptiveAvgPool2d(1).
//
//   MaxPool2d, AvgPool2d: x [N, C, H, W] -> [N, C, H_out, W_out],
//     H_out = floor_or_ceil((H + 2 padding_h - kernel_h) / stride_h) + 1 (same for W);
//     stride defaults to the kernel size; padding must be at most half the kernel.
//   GlobalAvgPool2d: x [N, C, H, W] -> [N, C, 1, 1], the mean over H and W.
// No parameters or buffers.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "framework/nn/module.h"
#include "ops/pool/pool.h"

namespace ff::nn {

// Plain fields, or chained setters: Pool2dOptions(3).set_stride(2).set_padding(1).
struct Pool2dOptions {
  explicit Pool2dOptions(int64_t kernel_size) : Pool2dOptions(std::array<int64_t, 2>{kernel_size, kernel_size}) {}
  explicit Pool2dOptions(std::array<int64_t, 2> kernel_size) : kernel_size(kernel_size), stride(kernel_size) {}

  Pool2dOptions& set_stride(int64_t s) { return set_stride({s, s}); }
  Pool2dOptions& set_stride(std::array<int64_t, 2> s) { stride = s; return *this; }
  Pool2dOptions& set_padding(int64_t p) { return set_padding({p, p}); }
  Pool2dOptions& set_padding(std::array<int64_t, 2> p) { padding = p; return *this; }
  Pool2dOptions& set_ceil_mode(bool c) { ceil_mode = c; return *this; }

  std::array<int64_t, 2> kernel_size;
  std::array<int64_t, 2> stride;          // defaults to kernel_size
  std::array<int64_t, 2> padding{0, 0};
  bool ceil_mode = false;
};

// What MaxPool2d and AvgPool2d share: options validated once into the op's parameters.
class WindowPool2d : public Module {
 public:
  const Pool2dOptions& options() const { return options_; }

 protected:
  // layer: the class name that validation errors start with.
  WindowPool2d(const Pool2dOptions& options, const char* layer);
  const Pool2dParams& params() const { return params_; }
  // "kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=False"
  std::string options_repr() const;

 private:
  Pool2dOptions options_;
  Pool2dParams params_;
};

class MaxPool2d : public WindowPool2d {
 public:
  explicit MaxPool2d(const Pool2dOptions& options) : WindowPool2d(options, "MaxPool2d") {}
  explicit MaxPool2d(int64_t kernel_size) : MaxPool2d(Pool2dOptions(kernel_size)) {}

  std::string name() const override { return "MaxPool2d"; }
  std::string extra_repr() const override { return options_repr(); }
  Tensor forward(const Tensor& x) override;
};

class AvgPool2d : public WindowPool2d {
 public:
  // count_include_pad: divide by the whole window (padding included), as PyTorch does by default.
  explicit AvgPool2d(const Pool2dOptions& options, bool count_include_pad = true)
      : WindowPool2d(options, "AvgPool2d"), count_include_pad_(count_include_pad) {}
  explicit AvgPool2d(int64_t kernel_size) : AvgPool2d(Pool2dOptions(kernel_size)) {}

  std::string name() const override { return "AvgPool2d"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

 private:
  bool count_include_pad_;
};

class GlobalAvgPool2d : public Module {
 public:
  GlobalAvgPool2d() = default;
  std::string name() const override { return "GlobalAvgPool2d"; }
  Tensor forward(const Tensor& x) override;
};

}  // namespace ff::nn
