// IResNet ("LResNet-E-IR", arcface_torch backbones/iresnet.py): r18, r34, r50, r100, r200.
//
// Shapes for the reference input 112x112 (width_divisor 1):
//   stem     conv1 3x3 s1 (3->64) -> bn1 -> prelu                 [N, 64, 112, 112]
//   layer1   IBasicBlock x n1, first with stride 2, 64 channels   [N, 64, 56, 56]
//   layer2   x n2, 128 channels                                   [N, 128, 28, 28]
//   layer3   x n3, 256 channels                                   [N, 256, 14, 14]
//   layer4   x n4, 512 channels                                   [N, 512, 7, 7]
//   head     bn2 -> flatten [N, 25088] -> dropout -> fc (bias) -> features (BatchNorm1d)
//                                                                 [N, embedding_size]
// Blocks per stage: r18 {2,2,2,2}, r34 {3,4,6,3}, r50 {3,4,14,3}, r100 {3,13,30,3},
// r200 {6,26,60,6}.
//
// Parameter and buffer names are arcface_torch's state_dict keys: conv1.weight, bn1.*, prelu.weight,
// layer{1..4}.{i}.{bn1,conv1,bn2,prelu,conv2,bn3}.*, layer{k}.0.downsample.{0,1}.*, bn2.*,
// fc.{weight,bias}, features.* (BatchNorm keys: weight, bias, running_mean, running_var,
// num_batches_tracked).
//
// Init as arcface_torch: every conv N(0, 0.1); BatchNorm weight 1, bias 0; PReLU 0.25; fc keeps
// PyTorch's Linear default; features.weight = 1 and frozen (requires_grad = false). BN eps 1e-5,
// momentum 0.1. The head (fc, features) is float32 whatever the body dtype (backbone.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/nn/nn.h"
#include "models/backbone.h"

namespace ff::models {

// BN(in) -> conv3x3(in->out, s1) -> BN -> PReLU -> conv3x3(out->out, stride) -> BN, plus the
// shortcut (identity, or downsample = conv1x1(in->out, stride) -> BN). The stride sits on the
// second conv and nothing follows the addition.
//   x [N, in, H, W] -> [N, out, ceil(H / stride), ceil(W / stride)]
class IBasicBlock : public nn::Module {
 public:
  // A downsample shortcut is built when stride != 1 or in_channels != out_channels.
  IBasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride);

  std::string name() const override { return "IBasicBlock"; }
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn2;
  std::shared_ptr<nn::PReLU> prelu;
  std::shared_ptr<nn::Conv2d> conv2;
  std::shared_ptr<nn::BatchNorm2d> bn3;
  std::shared_ptr<nn::Sequential> downsample;  // null for an identity shortcut
};

class IResNet : public Backbone {
 public:
  // `blocks_per_stage` has 4 positive entries. `network` names the model in messages.
  IResNet(const std::string& network, const std::vector<int64_t>& blocks_per_stage,
          const BackboneOptions& options = {});

  std::string name() const override { return "IResNet"; }
  std::string extra_repr() const override;
  // x [N, 3, S, S] -> [N, embedding_size] (S = options().input_size).
  Tensor forward(const Tensor& x) override;
  std::vector<std::string> head_module_names() const override { return {"fc", "features"}; }

  const std::vector<int64_t>& blocks_per_stage() const { return blocks_per_stage_; }

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::PReLU> prelu;
  std::shared_ptr<nn::Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<nn::BatchNorm2d> bn2;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> fc;
  std::shared_ptr<nn::BatchNorm1d> features;

 private:
  std::shared_ptr<nn::Sequential> make_stage(int64_t in_channels, int64_t out_channels, int64_t blocks);
  void initialize_weights();

  std::vector<int64_t> blocks_per_stage_;
};

}  // namespace ff::models
