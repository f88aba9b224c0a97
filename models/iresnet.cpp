#include "models/iresnet.h"

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "models/layer_trace.h"

namespace ff::models {

namespace {

std::shared_ptr<nn::Conv2d> conv3x3(int64_t in_channels, int64_t out_channels, int64_t stride) {
  return std::make_shared<nn::Conv2d>(
      nn::Conv2dOptions(in_channels, out_channels, 3).set_stride(stride).set_padding(1).set_bias(false));
}

std::shared_ptr<nn::Conv2d> conv1x1(int64_t in_channels, int64_t out_channels, int64_t stride) {
  return std::make_shared<nn::Conv2d>(
      nn::Conv2dOptions(in_channels, out_channels, 1).set_stride(stride).set_bias(false));
}

}  // namespace

// ---- IBasicBlock ------------------------------------------------------------------------------

IBasicBlock::IBasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride) {
  // Registration order = arcface_torch's attribute order, so state_dict keys list the same way.
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(in_channels));
  conv1 = register_module("conv1", conv3x3(in_channels, out_channels, 1));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out_channels));
  prelu = register_module("prelu", std::make_shared<nn::PReLU>(out_channels));
  conv2 = register_module("conv2", conv3x3(out_channels, out_channels, stride));
  bn3 = register_module("bn3", std::make_shared<nn::BatchNorm2d>(out_channels));
  if (stride != 1 || in_channels != out_channels) {
    downsample = register_module(
        "downsample",
        std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
            conv1x1(in_channels, out_channels, stride), std::make_shared<nn::BatchNorm2d>(out_channels)}));
  }
}

Tensor IBasicBlock::forward(const Tensor& x) {
  Tensor out = call_layer(*bn1, x);
  out = call_layer(*conv1, out);
  out = call_layer(*bn2, out);
  out = call_layer(*prelu, out);
  out = call_layer(*conv2, out);
  out = call_layer(*bn3, out);
  const Tensor shortcut = downsample ? run_sequence(*downsample, x) : x;
  return out + shortcut;
}

// ---- IResNet ----------------------------------------------------------------------------------

IResNet::IResNet(const std::string& network, const std::vector<int64_t>& blocks_per_stage,
                 const BackboneOptions& options)
    : Backbone(network, options), blocks_per_stage_(blocks_per_stage) {
  FF_CHECK(blocks_per_stage.size() == 4, "{}: IResNet needs 4 stage depths, got {}", network, blocks_per_stage.size());
  for (int64_t n : blocks_per_stage) FF_CHECK(n > 0, "{}: stage depths must be positive, got {}", network, n);

  const int64_t stem = channels(64);
  const int64_t widths[4] = {channels(64), channels(128), channels(256), channels(512)};
  const int64_t head_side = options.input_size / 16;  // 7 for 112x112 input

  conv1 = register_module("conv1", conv3x3(3, stem, 1));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(stem));
  prelu = register_module("prelu", std::make_shared<nn::PReLU>(stem));
  layer1 = register_module("layer1", make_stage(stem, widths[0], blocks_per_stage[0]));
  layer2 = register_module("layer2", make_stage(widths[0], widths[1], blocks_per_stage[1]));
  layer3 = register_module("layer3", make_stage(widths[1], widths[2], blocks_per_stage[2]));
  layer4 = register_module("layer4", make_stage(widths[2], widths[3], blocks_per_stage[3]));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(widths[3]));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(options.dropout, options.generator));
  fc = register_module("fc", std::make_shared<nn::Linear>(widths[3] * head_side * head_side, options.embedding_size));
  features = register_module("features", std::make_shared<nn::BatchNorm1d>(options.embedding_size));

  initialize_weights();
  if (options.body_dtype != DType::Float32) set_body_dtype(options.body_dtype);
}

std::shared_ptr<nn::Sequential> IResNet::make_stage(int64_t in_channels, int64_t out_channels, int64_t blocks) {
  auto stage = std::make_shared<nn::Sequential>();
  stage->push_back(std::make_shared<IBasicBlock>(in_channels, out_channels, /*stride=*/2));
  for (int64_t i = 1; i < blocks; ++i) stage->push_back(std::make_shared<IBasicBlock>(out_channels, out_channels, 1));
  return stage;
}

void IResNet::initialize_weights() {
  Generator* gen = options().generator;
  for (nn::Conv2d* conv : modules_of_type<nn::Conv2d>()) nn::init::normal_(conv->weight, 0.0, 0.1, gen);
  for (nn::BatchNormBase* bn : modules_of_type<nn::BatchNormBase>()) bn->reset_parameters();
  // fc keeps PyTorch's default Linear init, drawn here from the model's generator.
  fc->reset_parameters(gen);
  // The embedding BatchNorm's scale is fixed at 1: a plain standardisation plus a learned shift.
  nn::init::ones_(features->weight);
  freeze("features.weight");
}

std::string IResNet::extra_repr() const {
  const BackboneOptions& o = options();
  return fmt::format("network={}, blocks={}, embedding_size={}, dropout={}, body_dtype={}, input_size={}{}", network(),
                     fmt::join(blocks_per_stage_, "/"), o.embedding_size, nn::repr_float(o.dropout),
                     dtype_name(conv1->weight.dtype()), o.input_size,
                     o.width_divisor == 1 ? "" : fmt::format(", width_divisor={}", o.width_divisor));
}

Tensor IResNet::forward(const Tensor& x) {
  check_input(x);
  // Body, in the dtype of its parameters.
  Tensor h = cast_if_needed(x, conv1->weight.dtype());
  h = call_layer(*conv1, h);
  h = call_layer(*bn1, h);
  h = call_layer(*prelu, h);
  h = run_sequence(*layer1, h);
  h = run_sequence(*layer2, h);
  h = run_sequence(*layer3, h);
  h = run_sequence(*layer4, h);
  h = call_layer(*bn2, h);
  h = h.flatten(1);  // [N, C, s, s] -> [N, C * s * s], channel-major like torch.flatten
  h = call_layer(*dropout, h);
  // Head, float32 (or whatever the caller converted it to).
  h = cast_if_needed(h, fc->weight.dtype());
  h = call_layer(*fc, h);
  return call_layer(*features, h);
}

}  // namespace ff::models
