// MobileFaceNet as arcface_torch builds it (backbones/mobilefacenet.py, adapted from cavaface):
// "mbf" = blocks (1, 4, 6, 2), scale 2; "mbf_large" = blocks (2, 8, 12, 4), scale 4. Both are
// wider than the paper network (arXiv 1804.07573) and end in a 512-d GDC embedding.
//
// Building blocks (every conv without bias, BN eps 1e-5):
//   ConvBlock(in, out, k, s, p, g)    conv -> BatchNorm2d -> PReLU(out)     layers.{0,1,2}
//   LinearBlock(in, out, k, s, p, g)  conv -> BatchNorm2d                   layers.{0,1}
//   DepthWise(in, out, g, s, residual)
//       ConvBlock 1x1 in->g -> ConvBlock 3x3 depthwise (g groups, stride s) -> LinearBlock 1x1 g->out
//       (+ x when residual)                                                 layers.{0,1,2}
//   Residual(c, n, g)                 n residual DepthWise(c, c, g, 1)      layers.{0..n-1}
//   GDC(e)                            LinearBlock 512->512 kxk depthwise (no padding) -> flatten
//                                     -> Linear(512, e, bias=false) -> BatchNorm1d(e)
//                                                                           layers.{0,2,3} (1 = flatten)
//
// Network (C = 64 * scale; 112x112 input):
//   layers.0  ConvBlock 3->C, 3x3 s2                                   [N, C, 56, 56]
//   layers.1  blocks[0] == 1: ConvBlock C->C, 3x3, groups 64
//             otherwise Residual(C, blocks[0], g128)                   [N, C, 56, 56]
//   layers.2  DepthWise C->C, g128, s2                                 [N, C, 28, 28]
//   layers.3  Residual(C, blocks[1], g128)
//   layers.4  DepthWise C->2C, g256, s2                                [N, 2C, 14, 14]
//   layers.5  Residual(2C, blocks[2], g256)
//   layers.6  DepthWise 2C->2C, g512, s2                               [N, 2C, 7, 7]
//   layers.7  Residual(2C, blocks[3], g256)
//   conv_sep  ConvBlock 2C->512, 1x1                                   [N, 512, 7, 7]
//   features  GDC(embedding_size), kernel 7                            [N, embedding_size]
// The group counts (64, 128, 256, 512) and the 512 of conv_sep/GDC are absolute in the
// reference, not multiples of the scale.
//
// State-dict keys are arcface_torch's: layers.0.layers.0.weight (first conv),
// layers.3.layers.1.layers.2.layers.1.running_mean (BN of the LinearBlock of the second
// DepthWise of the first Residual), conv_sep.layers.2.weight (PReLU), features.layers.0.layers.0.weight
// (GDC depthwise conv), features.layers.2.weight (Linear), features.layers.3.* (BatchNorm1d).
//
// Init as arcface_torch: convs and the Linear kaiming_normal_(fan_out, relu); BatchNorm 1/0;
// PReLU 0.25. Precision: conv_sep and features (GDC) are the float32 head (backbone.h).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/nn/nn.h"
#include "models/backbone.h"

namespace ff::models {

struct ConvGeometry {
  int64_t kernel = 1;
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t groups = 1;
};

// conv -> BatchNorm2d -> PReLU. x [N, in, H, W] -> [N, out, H', W'].
class ConvBlock : public nn::Module {
 public:
  ConvBlock(int64_t in_channels, int64_t out_channels, const ConvGeometry& geometry);
  std::string name() const override { return "ConvBlock"; }
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<nn::Sequential> layers;
};

// conv -> BatchNorm2d (no activation). x [N, in, H, W] -> [N, out, H', W'].
class LinearBlock : public nn::Module {
 public:
  LinearBlock(int64_t in_channels, int64_t out_channels, const ConvGeometry& geometry);
  std::string name() const override { return "LinearBlock"; }
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<nn::Sequential> layers;
};

// Inverted-residual-style block: expand 1x1 to `groups` channels, depthwise 3x3 (pad 1) with
// `stride`, project 1x1 to `out`. With `residual` (stride 1, in == out) the input is added.
// x [N, in, H, W] -> [N, out, ceil(H / stride), ceil(W / stride)]
class DepthWise : public nn::Module {
 public:
  DepthWise(int64_t in_channels, int64_t out_channels, int64_t groups, int64_t stride, bool residual);
  std::string name() const override { return "DepthWise"; }
  Tensor forward(const Tensor& x) override;
  bool residual() const { return residual_; }
  std::shared_ptr<nn::Sequential> layers;

 private:
  bool residual_;
};

// `num_blocks` residual DepthWise(c, c, groups, stride 1). x [N, c, H, W] -> same shape.
class Residual : public nn::Module {
 public:
  Residual(int64_t channels, int64_t num_blocks, int64_t groups);
  std::string name() const override { return "Residual"; }
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<nn::Sequential> layers;
};

// Global depthwise convolution head: x [N, channels, k, k] -> [N, embedding_size].
class GDC : public nn::Module {
 public:
  GDC(int64_t channels, int64_t kernel, int64_t embedding_size);
  std::string name() const override { return "GDC"; }
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<nn::Sequential> layers;
};

class MobileFaceNet : public Backbone {
 public:
  // blocks: the four residual depths (arcface_torch `blocks`); scale: width multiplier of the
  // 64-channel base (arcface_torch `scale`). options.dropout must be 0 (the network has none).
  MobileFaceNet(const std::string& network, const std::array<int64_t, 4>& blocks, int64_t scale,
                const BackboneOptions& options = {});

  std::string name() const override { return "MobileFaceNet"; }
  std::string extra_repr() const override;
  // x [N, 3, S, S] -> [N, embedding_size].
  Tensor forward(const Tensor& x) override;
  std::vector<std::string> head_module_names() const override { return {"conv_sep", "features"}; }

  std::shared_ptr<nn::ModuleList> layers;
  std::shared_ptr<ConvBlock> conv_sep;
  std::shared_ptr<GDC> features;

 private:
  void initialize_weights();
  // layers.0.layers.0: its weight's dtype is the body's dtype.
  const nn::Conv2d& first_conv() const;

  std::array<int64_t, 4> blocks_;
  int64_t scale_;
};

}  // namespace ff::models
