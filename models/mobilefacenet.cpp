#include "models/mobilefacenet.h"

#include "framework/common/check.h"
#include "models/layer_trace.h"

namespace ff::models {

namespace {

std::shared_ptr<nn::Conv2d> make_conv(int64_t in_channels, int64_t out_channels, const ConvGeometry& g) {
  return std::make_shared<nn::Conv2d>(nn::Conv2dOptions(in_channels, out_channels, g.kernel)
                                          .set_stride(g.stride)
                                          .set_padding(g.padding)
                                          .set_groups(g.groups)
                                          .set_bias(false));
}

std::shared_ptr<nn::Sequential> sequential(std::initializer_list<std::shared_ptr<nn::Module>> modules) {
  return std::make_shared<nn::Sequential>(modules);
}

}  // namespace

// ---- blocks -----------------------------------------------------------------------------------

ConvBlock::ConvBlock(int64_t in_channels, int64_t out_channels, const ConvGeometry& geometry) {
  layers = register_module("layers", sequential({
                                         make_conv(in_channels, out_channels, geometry),
                                         std::make_shared<nn::BatchNorm2d>(out_channels),
                                         std::make_shared<nn::PReLU>(out_channels),
                                     }));
}

Tensor ConvBlock::forward(const Tensor& x) { return run_sequence(*layers, x); }

LinearBlock::LinearBlock(int64_t in_channels, int64_t out_channels, const ConvGeometry& geometry) {
  layers = register_module("layers", sequential({
                                         make_conv(in_channels, out_channels, geometry),
                                         std::make_shared<nn::BatchNorm2d>(out_channels),
                                     }));
}

Tensor LinearBlock::forward(const Tensor& x) { return run_sequence(*layers, x); }

DepthWise::DepthWise(int64_t in_channels, int64_t out_channels, int64_t groups, int64_t stride, bool residual)
    : residual_(residual) {
  FF_CHECK(!residual || (stride == 1 && in_channels == out_channels),
           "DepthWise({}, {}): a residual block needs stride 1 and equal channels, got stride {}", in_channels,
           out_channels, stride);
  const ConvGeometry pointwise{1, 1, 0, 1};
  const ConvGeometry depthwise{3, stride, 1, groups};
  layers = register_module("layers", sequential({
                                         std::make_shared<ConvBlock>(in_channels, groups, pointwise),
                                         std::make_shared<ConvBlock>(groups, groups, depthwise),
                                         std::make_shared<LinearBlock>(groups, out_channels, pointwise),
                                     }));
}

Tensor DepthWise::forward(const Tensor& x) {
  Tensor out = run_sequence(*layers, x);
  return residual_ ? x + out : out;
}

Residual::Residual(int64_t channels, int64_t num_blocks, int64_t groups) {
  layers = register_module("layers", std::make_shared<nn::Sequential>());
  for (int64_t i = 0; i < num_blocks; ++i) {
    layers->push_back(std::make_shared<DepthWise>(channels, channels, groups, /*stride=*/1, /*residual=*/true));
  }
}

Tensor Residual::forward(const Tensor& x) { return run_sequence(*layers, x); }

GDC::GDC(int64_t channels, int64_t kernel, int64_t embedding_size) {
  layers = register_module("layers", sequential({
                                         std::make_shared<LinearBlock>(channels, channels,
                                                                       ConvGeometry{kernel, 1, 0, channels}),
                                         std::make_shared<nn::Flatten>(),
                                         std::make_shared<nn::Linear>(channels, embedding_size, /*bias=*/false),
                                         std::make_shared<nn::BatchNorm1d>(embedding_size),
                                     }));
}

Tensor GDC::forward(const Tensor& x) { return run_sequence(*layers, x); }

// ---- MobileFaceNet ------------------------------------------------------------------------------

MobileFaceNet::MobileFaceNet(const std::string& network, const std::array<int64_t, 4>& blocks, int64_t scale,
                             const BackboneOptions& options)
    : Backbone(network, options), blocks_(blocks), scale_(scale) {
  FF_CHECK(options.dropout == 0.0, "{}: MobileFaceNet has no dropout layer; dropout must be 0, got {}", network,
           options.dropout);
  FF_CHECK(scale > 0, "{}: scale must be positive, got {}", network, scale);
  for (int64_t n : blocks) FF_CHECK(n > 0, "{}: block counts must be positive, got {}", network, n);

  const int64_t c1 = channels(64 * scale);   // stages 1-2
  const int64_t c2 = channels(128 * scale);  // stages 3-4
  const int64_t g64 = channels(64), g128 = channels(128), g256 = channels(256), g512 = channels(512);
  const int64_t embedding_channels = channels(512);
  const int64_t head_kernel = options.input_size / 16;  // 7 for 112x112 input

  layers = register_module("layers", std::make_shared<nn::ModuleList>());
  layers->push_back(std::make_shared<ConvBlock>(3, c1, ConvGeometry{3, 2, 1, 1}));
  if (blocks[0] == 1) {
    // Two channels per group at scale 2, not a depthwise conv: arcface_torch passes groups=64.
    layers->push_back(std::make_shared<ConvBlock>(c1, c1, ConvGeometry{3, 1, 1, g64}));
  } else {
    layers->push_back(std::make_shared<Residual>(c1, blocks[0], g128));
  }
  layers->push_back(std::make_shared<DepthWise>(c1, c1, g128, 2, false));
  layers->push_back(std::make_shared<Residual>(c1, blocks[1], g128));
  layers->push_back(std::make_shared<DepthWise>(c1, c2, g256, 2, false));
  layers->push_back(std::make_shared<Residual>(c2, blocks[2], g256));
  layers->push_back(std::make_shared<DepthWise>(c2, c2, g512, 2, false));
  layers->push_back(std::make_shared<Residual>(c2, blocks[3], g256));

  conv_sep = register_module("conv_sep", std::make_shared<ConvBlock>(c2, embedding_channels, ConvGeometry{1, 1, 0, 1}));
  features =
      register_module("features", std::make_shared<GDC>(embedding_channels, head_kernel, options.embedding_size));

  initialize_weights();
  if (options.body_dtype != DType::Float32) set_body_dtype(options.body_dtype);
}

void MobileFaceNet::initialize_weights() {
  Generator* gen = options().generator;
  for (nn::Conv2d* conv : modules_of_type<nn::Conv2d>()) {
    nn::init::kaiming_normal_(conv->weight, 0.0, nn::init::FanMode::FanOut, nn::init::Nonlinearity::ReLU, gen);
  }
  for (nn::Linear* linear : modules_of_type<nn::Linear>()) {
    nn::init::kaiming_normal_(linear->weight, 0.0, nn::init::FanMode::FanOut, nn::init::Nonlinearity::ReLU, gen);
  }
  for (nn::BatchNormBase* bn : modules_of_type<nn::BatchNormBase>()) bn->reset_parameters();
}

std::string MobileFaceNet::extra_repr() const {
  const BackboneOptions& o = options();
  return fmt::format("network={}, blocks=({}), scale={}, embedding_size={}, body_dtype={}, input_size={}{}", network(),
                     fmt::join(blocks_, ", "), scale_, o.embedding_size, dtype_name(first_conv().weight.dtype()),
                     o.input_size, o.width_divisor == 1 ? "" : fmt::format(", width_divisor={}", o.width_divisor));
}

const nn::Conv2d& MobileFaceNet::first_conv() const { return *layers->at<ConvBlock>(0)->layers->at<nn::Conv2d>(0); }

Tensor MobileFaceNet::forward(const Tensor& x) {
  check_input(x);
  // Body, in the dtype of its parameters.
  Tensor h = cast_if_needed(x, first_conv().weight.dtype());
  h = run_sequence(*layers, h);
  // Head (conv_sep + GDC), float32 (or whatever the caller converted it to).
  const nn::Conv2d& head_conv = *conv_sep->layers->at<nn::Conv2d>(0);
  h = cast_if_needed(h, head_conv.weight.dtype());
  h = call_layer(*conv_sep, h);
  return call_layer(*features, h);
}

}  // namespace ff::models
