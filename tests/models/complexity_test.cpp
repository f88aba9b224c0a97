// measure_complexity(): MAC counts from a traced forward, checked against counts derived by
// hand from the architectures (ptflops' rule, see models/complexity.h), and its guards.
#include "models/complexity.h"

#include <gtest/gtest.h>

#include "framework/nn/nn.h"
#include "models/layer_trace.h"
#include "tests/models/models_test_util.h"

namespace ff::models {
namespace {

// Analytic totals at 1x3x112x112 [derived: conv + linear MACs summed layer by layer, plus
// 2 x numel per BatchNorm input and numel per PReLU output].
TEST(Complexity, R50MatchesAnalyticCount) {
  auto model = create_backbone("r50");
  const Complexity c = measure_complexity(*model, {1, 3, 112, 112});
  EXPECT_EQ(c.parameters, 43590848);
  EXPECT_EQ(c.trainable_parameters, 43590848 - 512);
  EXPECT_EQ(c.parameter_bytes, 43590848 * 4);
  EXPECT_EQ(c.total_macs(), 6329954816);
  EXPECT_EQ(c.conv_linear_macs(), 6309331456);
  EXPECT_EQ(c.linear_macs, 25088 * 512 + 512);  // ptflops adds the bias once
  // README "6.3G" for r50 is this count in units of 1e9.
  EXPECT_NEAR(static_cast<double>(c.total_macs()) / 1e9, 6.3, 0.05);
  // One entry per layer call: 3 (stem) + 24 blocks x 6 + 4 downsamples x 2 + bn2, fc, features.
  EXPECT_EQ(c.layers.size(), 3u + 24u * 6u + 4u * 2u + 3u);
  EXPECT_EQ(c.layers.front().name, "conv1");
  EXPECT_EQ(c.layers.front().output, (Shape{1, 64, 112, 112}));
  EXPECT_EQ(c.layers.back().name, "features");
}

TEST(Complexity, MbfMatchesAnalyticCount) {
  auto model = create_backbone("mbf");
  const Complexity c = measure_complexity(*model, {1, 3, 112, 112});
  EXPECT_EQ(c.parameters, 2059520);
  EXPECT_EQ(c.total_macs(), 448787456);  // README: "mobilefacenet-0.45G"
  EXPECT_EQ(c.conv_linear_macs(), 437520896);
  EXPECT_EQ(c.linear_macs, 512 * 512);  // no bias
  bool saw_gdc = false;
  for (const LayerCost& l : c.layers) {
    if (l.name == "features.layers.0.layers.0") {
      saw_gdc = true;
      EXPECT_EQ(l.input, (Shape{1, 512, 7, 7}));
      EXPECT_EQ(l.output, (Shape{1, 512, 1, 1}));
      EXPECT_EQ(l.macs, 512 * 49);
    }
  }
  EXPECT_TRUE(saw_gdc);
}

TEST(Complexity, ScalesWithBatchAndRestoresModes) {
  auto model = create_backbone("mbf", testing::tiny_options());
  model->child("layers.2")->eval();  // a mixed-mode model keeps its per-module modes
  const Complexity one = measure_complexity(*model, {1, 3, 32, 32});
  const Complexity three = measure_complexity(*model, {3, 3, 32, 32});
  EXPECT_EQ(three.conv_macs, 3 * one.conv_macs);
  EXPECT_EQ(three.batch_norm_macs, 3 * one.batch_norm_macs);
  EXPECT_TRUE(model->is_training());
  EXPECT_FALSE(model->child("layers.2")->is_training());
  EXPECT_TRUE(model->child("layers.3")->is_training());
}

// A module that calls a child's forward directly, bypassing call_layer().
class Untraced : public nn::Module {
 public:
  Untraced() {
    conv = register_module("conv", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 4, 3).set_bias(false)));
    head = register_module("head", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(4, 4, 1)));
  }
  std::string name() const override { return "Untraced"; }
  Tensor forward(const Tensor& x) override { return call_layer(*head, conv->forward(x)); }
  std::shared_ptr<nn::Conv2d> conv, head;
};

TEST(Complexity, RefusesLayersMissingFromTheTrace) {
  Untraced model;
  testing::expect_error_containing(
      [&] {
        measure_complexity(model, {1, 3, 8, 8});
      },
      {"conv layer 'conv'", "call_layer", "Untraced"});
}

TEST(Complexity, ConvBiasIsCountedPerOutputElement) {
  // head: 1x1 conv 4->4 with bias on a 6x6 map: 36 * 16 MACs + 36 * 4 bias additions.
  auto head = std::make_shared<nn::Conv2d>(nn::Conv2dOptions(4, 4, 1));
  class Wrapper : public nn::Module {
   public:
    explicit Wrapper(std::shared_ptr<nn::Conv2d> c) { conv = register_module("conv", c); }
    Tensor forward(const Tensor& x) override { return call_layer(*conv, x); }
    std::shared_ptr<nn::Conv2d> conv;
  } wrapper(head);
  const Complexity c = measure_complexity(wrapper, {1, 4, 6, 6});
  EXPECT_EQ(c.conv_macs, 36 * 16 + 36 * 4);
}

TEST(Complexity, TraceIsInactiveOutsideAScope) {
  // call_layer() without an active LayerTrace just runs the layer.
  nn::ReLU relu;
  EXPECT_EQ(call_layer(relu, testing::random_images(1, 4, 1)).sizes(), (Shape{1, 3, 4, 4}));
  LayerTrace outer;
  {
    LayerTrace inner;
    call_layer(relu, testing::random_images(1, 4, 1));
    EXPECT_EQ(inner.calls().size(), 1u);
  }
  EXPECT_TRUE(outer.calls().empty());  // the innermost scope took the call
}

}  // namespace
}  // namespace ff::models
