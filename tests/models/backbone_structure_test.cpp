// Backbone structure: exact parameter counts, arcface_torch state_dict names and shapes,
// initialisation, factory and option errors. Construction only (no forward passes).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "framework/nn/nn.h"
#include "models/iresnet.h"
#include "models/mobilefacenet.h"
#include "tests/models/models_test_util.h"

namespace ff::models {
namespace {

using testing::expect_error_containing;
using testing::make_backbone;
using testing::values;

// ---- parameter counts (face_recognition.md 4.3), one construction per test --------------------

int64_t count_parameters(const std::string& name) {
  auto model = create_backbone(name);
  return model->num_parameters();  // frozen features.weight included, like the reference count
}

TEST(BackboneParameters, R18) { EXPECT_EQ(count_parameters("r18"), 24025600); }
TEST(BackboneParameters, R34) { EXPECT_EQ(count_parameters("r34"), 34139328); }
TEST(BackboneParameters, R50) { EXPECT_EQ(count_parameters("r50"), 43590848); }
TEST(BackboneParameters, R100) { EXPECT_EQ(count_parameters("r100"), 65156160); }
TEST(BackboneParameters, R200) { EXPECT_EQ(count_parameters("r200"), 118833920); }
TEST(BackboneParameters, Mbf) { EXPECT_EQ(count_parameters("mbf"), 2059520); }
TEST(BackboneParameters, MbfLarge) { EXPECT_EQ(count_parameters("mbf_large"), 6314880); }

TEST(BackboneParameters, EmbeddingSizeChangesOnlyTheHead) {
  // r50 with a 128-d embedding: fc loses 25088 * 384 + 384 weights, features 2 * 384.
  auto model = create_backbone("r50", BackboneOptions().set_embedding_size(128));
  EXPECT_EQ(model->num_parameters(), 43590848 - (25088 * 384 + 384) - 2 * 384);
  EXPECT_EQ(model->parameter("fc.weight").sizes(), (Shape{128, 25088}));
}

// ---- state_dict names -----------------------------------------------------------------------------

void expect_keys(const StateDict& dict, const std::vector<std::pair<std::string, Shape>>& expected) {
  for (const auto& [key, shape] : expected) {
    const auto it = dict.find(key);
    ASSERT_NE(it, dict.end()) << "missing arcface_torch key " << key;
    EXPECT_EQ(it->second.sizes(), shape) << key;
  }
}

TEST(BackboneStateDict, R100MatchesArcfaceTorchKeys) {
  auto model = create_backbone("r100");
  const StateDict dict = model->state_dict();
  // stem 7 + 49 blocks x 18 + 4 downsamples x 6 + head (bn2 5, fc 2, features 5).
  EXPECT_EQ(dict.size(), 7u + 49u * 18u + 4u * 6u + 12u);
  expect_keys(dict, {{"conv1.weight", {64, 3, 3, 3}},
                     {"bn1.weight", {64}},
                     {"bn1.running_var", {64}},
                     {"bn1.num_batches_tracked", {}},
                     {"prelu.weight", {64}},
                     {"layer1.0.bn1.weight", {64}},
                     {"layer1.0.conv1.weight", {64, 64, 3, 3}},
                     {"layer1.0.bn2.running_mean", {64}},
                     {"layer1.0.prelu.weight", {64}},
                     {"layer1.0.conv2.weight", {64, 64, 3, 3}},
                     {"layer1.0.bn3.bias", {64}},
                     {"layer1.0.downsample.0.weight", {64, 64, 1, 1}},
                     {"layer1.0.downsample.1.running_mean", {64}},
                     {"layer2.0.conv1.weight", {128, 64, 3, 3}},
                     {"layer2.0.downsample.0.weight", {128, 64, 1, 1}},
                     {"layer2.12.conv2.weight", {128, 128, 3, 3}},
                     {"layer3.29.bn3.num_batches_tracked", {}},
                     {"layer4.2.prelu.weight", {512}},
                     {"bn2.weight", {512}},
                     {"fc.weight", {512, 25088}},
                     {"fc.bias", {512}},
                     {"features.weight", {512}},
                     {"features.bias", {512}},
                     {"features.running_mean", {512}},
                     {"features.running_var", {512}},
                     {"features.num_batches_tracked", {}}});
  EXPECT_EQ(dict.count("layer1.1.downsample.0.weight"), 0u);  // only the first block of a stage
  EXPECT_EQ(dict.count("layer2.13.conv1.weight"), 0u);        // r100 has 13 blocks in layer2
  EXPECT_EQ(dict.at("bn1.num_batches_tracked").dtype(), DType::Int64);
}

TEST(BackboneStateDict, MbfMatchesArcfaceTorchKeys) {
  auto model = create_backbone("mbf");
  const StateDict dict = model->state_dict();
  // ConvBlock 7 keys, LinearBlock 6, DepthWise 20: 2 ConvBlocks, 3 + 12 DepthWise, conv_sep,
  // GDC (LinearBlock 6 + Linear 1 + BatchNorm1d 5).
  EXPECT_EQ(dict.size(), 7u + 7u + 15u * 20u + 7u + 12u);
  expect_keys(dict, {{"layers.0.layers.0.weight", {128, 3, 3, 3}},
                     {"layers.0.layers.1.running_mean", {128}},
                     {"layers.0.layers.2.weight", {128}},
                     {"layers.1.layers.0.weight", {128, 2, 3, 3}},  // groups 64
                     {"layers.2.layers.0.layers.0.weight", {128, 128, 1, 1}},
                     {"layers.2.layers.1.layers.0.weight", {128, 1, 3, 3}},
                     {"layers.2.layers.2.layers.0.weight", {128, 128, 1, 1}},
                     {"layers.2.layers.2.layers.1.bias", {128}},
                     {"layers.3.layers.3.layers.2.layers.1.num_batches_tracked", {}},
                     {"layers.4.layers.0.layers.0.weight", {256, 128, 1, 1}},
                     {"layers.5.layers.5.layers.1.layers.2.weight", {256}},
                     {"layers.6.layers.1.layers.0.weight", {512, 1, 3, 3}},
                     {"layers.6.layers.2.layers.0.weight", {256, 512, 1, 1}},
                     {"layers.7.layers.1.layers.2.layers.1.running_var", {256}},
                     {"conv_sep.layers.0.weight", {512, 256, 1, 1}},
                     {"conv_sep.layers.2.weight", {512}},
                     {"features.layers.0.layers.0.weight", {512, 1, 7, 7}},
                     {"features.layers.0.layers.1.weight", {512}},
                     {"features.layers.2.weight", {512, 512}},
                     {"features.layers.3.running_var", {512}},
                     {"features.layers.3.num_batches_tracked", {}}});
  EXPECT_EQ(dict.count("features.layers.2.bias"), 0u);  // Linear(512, 512, bias=False)
  EXPECT_EQ(dict.count("layers.8.layers.0.weight"), 0u);
}

TEST(BackboneStateDict, MbfLargeUsesResidualFirstStage) {
  auto model = create_backbone("mbf_large");
  const StateDict dict = model->state_dict();
  // layers.1 = Residual(256, 2 blocks, g128); 3 + 2 + 8 + 12 + 4 DepthWise in all.
  EXPECT_EQ(dict.size(), 7u + 29u * 20u + 7u + 12u);
  expect_keys(dict, {{"layers.0.layers.0.weight", {256, 3, 3, 3}},
                     {"layers.1.layers.1.layers.0.layers.0.weight", {128, 256, 1, 1}},
                     {"layers.1.layers.1.layers.1.layers.0.weight", {128, 1, 3, 3}},
                     {"layers.5.layers.11.layers.2.layers.0.weight", {512, 256, 1, 1}},
                     {"conv_sep.layers.0.weight", {512, 512, 1, 1}}});
}

// ---- initialisation ---------------------------------------------------------------------------------

double sample_std(const Tensor& t) {
  const std::vector<double> v = values(t);
  double mean = 0.0, var = 0.0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (double x : v) var += (x - mean) * (x - mean);
  return std::sqrt(var / static_cast<double>(v.size() - 1));
}

void expect_all_equal(const Tensor& t, double value, const std::string& what) {
  for (double v : values(t)) ASSERT_EQ(v, value) << what;
}

TEST(BackboneInit, IResNetFollowsArcfaceTorch) {
  auto model = create_backbone("r18");
  // Conv N(0, 0.1): 256x128x3x3 = 294,912 samples, the std is within 1% of 0.1.
  EXPECT_NEAR(sample_std(model->parameter("layer3.0.conv1.weight")), 0.1, 0.001);
  EXPECT_NEAR(sample_std(model->parameter("layer2.0.downsample.0.weight")), 0.1, 0.005);
  expect_all_equal(model->parameter("prelu.weight"), 0.25, "prelu.weight");
  expect_all_equal(model->parameter("layer4.1.prelu.weight"), 0.25, "layer4.1.prelu.weight");
  expect_all_equal(model->parameter("layer1.0.bn1.weight"), 1.0, "bn weight");
  expect_all_equal(model->parameter("layer1.0.bn3.bias"), 0.0, "bn bias");
  expect_all_equal(model->parameter("features.weight"), 1.0, "features.weight");
  expect_all_equal(model->parameter("features.bias"), 0.0, "features.bias");
  EXPECT_FALSE(model->parameter("features.weight").requires_grad());
  EXPECT_TRUE(model->parameter("features.bias").requires_grad());
  // fc: PyTorch's Linear default, U(-1/sqrt(25088), 1/sqrt(25088)).
  const double bound = 1.0 / std::sqrt(25088.0);
  EXPECT_LE(testing::max_abs(model->parameter("fc.weight")), bound * (1 + 1e-6));  // float32 rounding
  EXPECT_NEAR(sample_std(model->parameter("fc.weight")), bound / std::sqrt(3.0), 0.01 * bound);
  EXPECT_EQ(model->num_parameters(/*trainable_only=*/true), 24025600 - 512);
}

TEST(BackboneInit, MobileFaceNetUsesKaimingFanOut) {
  auto model = create_backbone("mbf");
  // kaiming_normal_(fan_out, relu): std = sqrt(2 / fan_out), fan_out = out * kH * kW.
  EXPECT_NEAR(sample_std(model->parameter("layers.4.layers.0.layers.0.weight")), std::sqrt(2.0 / 256),
              0.02 * std::sqrt(2.0 / 256));
  EXPECT_NEAR(sample_std(model->parameter("conv_sep.layers.0.weight")), std::sqrt(2.0 / 512),
              0.02 * std::sqrt(2.0 / 512));
  EXPECT_NEAR(sample_std(model->parameter("features.layers.2.weight")), std::sqrt(2.0 / 512),
              0.02 * std::sqrt(2.0 / 512));
  EXPECT_NEAR(sample_std(model->parameter("features.layers.0.layers.0.weight")), std::sqrt(2.0 / (512 * 49)),
              0.05 * std::sqrt(2.0 / (512 * 49)));
  expect_all_equal(model->parameter("layers.0.layers.2.weight"), 0.25, "prelu");
  expect_all_equal(model->parameter("layers.2.layers.2.layers.1.weight"), 1.0, "bn weight");
  expect_all_equal(model->parameter("features.layers.3.bias"), 0.0, "bn1d bias");
  EXPECT_EQ(model->num_parameters(/*trainable_only=*/true), model->num_parameters());  // nothing frozen
}

TEST(BackboneInit, GeneratorMakesInitReproducible) {
  Generator a(7), b(7);
  auto m1 = create_backbone("mbf", BackboneOptions().set_generator(&a));
  auto m2 = create_backbone("mbf", BackboneOptions().set_generator(&b));
  EXPECT_EQ(values(m1->parameter("conv_sep.layers.0.weight")), values(m2->parameter("conv_sep.layers.0.weight")));
}

// ---- factory and options -----------------------------------------------------------------------------

TEST(BackboneFactory, UnknownNameListsValidNames) {
  expect_error_containing([] { create_backbone("r101"); },
                          {"unknown network 'r101'", "r18", "r34", "r50", "r100", "r200", "mbf", "mbf_large"});
  expect_error_containing([] { create_backbone(""); }, {"unknown network ''"});
}

TEST(BackboneFactory, NamesAndTypes) {
  EXPECT_EQ(backbone_names(), (std::vector<std::string>{"r18", "r34", "r50", "r100", "r200", "mbf", "mbf_large"}));
  auto tiny = testing::tiny_options();
  EXPECT_NE(std::dynamic_pointer_cast<IResNet>(create_backbone("r34", tiny)), nullptr);
  EXPECT_NE(std::dynamic_pointer_cast<MobileFaceNet>(create_backbone("mbf", tiny)), nullptr);
  auto b = make_backbone("r50", tiny);
  EXPECT_EQ(b->network(), "r50");
  EXPECT_EQ(b->embedding_size(), 8);
  EXPECT_EQ(b->head_module_names(), (std::vector<std::string>{"fc", "features"}));
  EXPECT_NE(b->str().find("IBasicBlock"), std::string::npos);
  EXPECT_NE(b->str().find("network=r50, blocks=3/4/14/3"), std::string::npos) << b->str();
}

TEST(BackboneFactory, BadOptionsNameTheNetwork) {
  expect_error_containing([] { create_backbone("r50", BackboneOptions().set_embedding_size(0)); },
                          {"r50", "embedding_size"});
  expect_error_containing([] { create_backbone("r18", BackboneOptions().set_dropout(1.0)); }, {"r18", "dropout"});
  expect_error_containing([] { create_backbone("mbf", BackboneOptions().set_dropout(0.1)); }, {"mbf", "no dropout"});
  expect_error_containing([] { create_backbone("r18", BackboneOptions().set_input_size(100)); },
                          {"r18", "multiple of 16"});
  expect_error_containing([] { create_backbone("mbf_large", BackboneOptions().set_width_divisor(3)); },
                          {"mbf_large", "width_divisor 3"});
  expect_error_containing([] { create_backbone("r18", BackboneOptions().set_body_dtype(DType::Int32)); },
                          {"r18", "body_dtype"});
}

}  // namespace
}  // namespace ff::models
