// Backbone forward/backward on the CPU: output shapes, finite gradients for every trainable
// parameter, the frozen features.weight, train vs eval behaviour, and state_dict round trips
// (in memory and through a safetensors file).
//
// Full-size r18 and mbf run at batch 2; behaviour tests use the tiny variant (channels / 32,
// 32x32 input) to stay fast.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "framework/autograd/autograd.h"
#include "framework/io/safetensors.h"
#include "framework/nn/nn.h"
#include "models/iresnet.h"
#include "ops/reduce/reduce.h"
#include "tests/models/models_test_util.h"

namespace ff::models {
namespace {

using testing::all_finite;
using testing::make_backbone;
using testing::max_abs_diff;
using testing::random_images;
using testing::tiny_options;

// loss = sum(embedding^2): a stand-in for the margin loss that touches every output.
Tensor sum_of_squares(const Tensor& y) { return sum(y * y); }

// Every trainable parameter has a finite gradient of its own shape; frozen ones have none.
void expect_gradients(const nn::Module& model, const std::string& network) {
  int64_t with_grad = 0;
  for (const auto& [name, p] : model.named_parameters()) {
    if (!p.requires_grad()) {
      EXPECT_FALSE(p.grad().defined()) << network << ": frozen " << name << " received a gradient";
      continue;
    }
    ASSERT_TRUE(p.grad().defined()) << network << ": no gradient for " << name;
    EXPECT_EQ(p.grad().sizes(), p.sizes()) << name;
    EXPECT_TRUE(all_finite(p.grad())) << network << ": non-finite gradient in " << name;
    ++with_grad;
  }
  EXPECT_GT(with_grad, 0);
}

// ---- full-size networks ----------------------------------------------------------------------------

TEST(BackboneForward, R18OutputShapeInEval) {
  auto model = create_backbone("r18");
  model->eval();
  autograd::NoGradGuard no_grad;
  const Tensor y = model->forward(random_images(2, 112, 1));
  EXPECT_EQ(y.sizes(), (Shape{2, 512}));
  EXPECT_EQ(y.dtype(), DType::Float32);
  EXPECT_TRUE(all_finite(y));
}

TEST(BackboneForward, MbfOutputShapeInEval) {
  auto model = create_backbone("mbf");
  model->eval();
  autograd::NoGradGuard no_grad;
  const Tensor y = model->forward(random_images(2, 112, 2));
  EXPECT_EQ(y.sizes(), (Shape{2, 512}));
  EXPECT_TRUE(all_finite(y));
}

TEST(BackboneForward, R18TrainingStepGivesFiniteGradients) {
  auto model = create_backbone("r18");
  const Tensor y = model->forward(random_images(2, 112, 3));
  ASSERT_EQ(y.sizes(), (Shape{2, 512}));
  sum_of_squares(y).backward();
  expect_gradients(*model, "r18");
  EXPECT_FALSE(model->parameter("features.weight").grad().defined());
}

TEST(BackboneForward, MbfTrainingStepGivesFiniteGradients) {
  auto model = create_backbone("mbf");
  const Tensor y = model->forward(random_images(2, 112, 4));
  ASSERT_EQ(y.sizes(), (Shape{2, 512}));
  sum_of_squares(y).backward();
  expect_gradients(*model, "mbf");
}

TEST(BackboneForward, WrongInputShapeNamesTheNetwork) {
  auto model = create_backbone("mbf", tiny_options());
  testing::expect_error_containing([&] { model->forward(random_images(1, 64, 5)); },
                                   {"mbf", "expected input [N, 3, 32, 32]", "[1, 3, 64, 64]"});
}

// ---- train vs eval -------------------------------------------------------------------------------------

TEST(BackboneModes, RunningStatsUpdateOnlyInTraining) {
  for (const std::string name : {"r18", "mbf"}) {
    auto model = create_backbone(name, tiny_options());
    const std::string bn = name == "r18" ? "layer2.0.bn2" : "layers.2.layers.1.layers.1";
    const Tensor x = random_images(4, 32, 6);
    const std::vector<double> mean0 = testing::values(model->buffer(bn + ".running_mean"));

    model->eval();
    const Tensor eval1 = model->forward(x).detach();
    const Tensor eval2 = model->forward(x).detach();
    EXPECT_EQ(testing::values(model->buffer(bn + ".running_mean")), mean0) << name << ": eval changed running stats";
    EXPECT_EQ(model->buffer(bn + ".num_batches_tracked").item<int64_t>(), 0);
    EXPECT_EQ(max_abs_diff(eval1, eval2), 0.0) << name << ": eval is not deterministic";

    model->train();
    const Tensor train_out = model->forward(x).detach();
    EXPECT_NE(testing::values(model->buffer(bn + ".running_mean")), mean0) << name << ": training left stats unchanged";
    EXPECT_EQ(model->buffer(bn + ".num_batches_tracked").item<int64_t>(), 1);
    EXPECT_GT(max_abs_diff(train_out, eval1), 1e-3) << name << ": batch statistics had no effect";
  }
}

TEST(BackboneModes, DropoutIsActiveOnlyInTraining) {
  Generator gen(11);
  auto with_dropout = make_backbone("r18", tiny_options().set_dropout(0.5).set_generator(&gen));
  const Tensor x = random_images(4, 32, 7);
  // Training: batch statistics are the same for both calls, only the dropout mask differs.
  const Tensor a = with_dropout->forward(x).detach();
  const Tensor b = with_dropout->forward(x).detach();
  EXPECT_GT(max_abs_diff(a, b), 1e-3);
  with_dropout->eval();
  EXPECT_EQ(max_abs_diff(with_dropout->forward(x), with_dropout->forward(x)), 0.0);

  // p = 0 (arcface_torch's setting) is the identity in training too.
  auto without = make_backbone("r18", tiny_options());
  EXPECT_EQ(max_abs_diff(without->forward(x), without->forward(x)), 0.0);
}

// ---- state_dict round trips ------------------------------------------------------------------------

// Trains `source` for one forward (so running stats and counters are not at their defaults)
// and returns it in eval mode.
std::shared_ptr<nn::Module> trained_source(const std::string& name, const BackboneOptions& options, int64_t size) {
  Generator gen(21);
  auto source = create_backbone(name, BackboneOptions(options).set_generator(&gen));
  source->forward(random_images(4, size, 8));
  source->eval();
  return source;
}

TEST(BackboneStateDict, RoundTripIntoFreshModelGivesIdenticalOutputs) {
  for (const std::string name : {"r18", "mbf"}) {
    auto source = trained_source(name, tiny_options(), 32);
    Generator other(99);
    auto fresh = create_backbone(name, tiny_options().set_generator(&other));
    fresh->eval();
    const Tensor x = random_images(3, 32, 9);
    EXPECT_GT(max_abs_diff(source->forward(x), fresh->forward(x)), 1e-3) << name << ": models already equal";
    const nn::LoadStateDictResult r = fresh->load_state_dict(source->state_dict());
    EXPECT_TRUE(r.missing_keys.empty() && r.unexpected_keys.empty());
    EXPECT_EQ(max_abs_diff(source->forward(x), fresh->forward(x)), 0.0) << name;
    if (name == "r18") {
      EXPECT_FALSE(fresh->parameter("features.weight").requires_grad()) << "loading unfroze it";
    }
  }
}

TEST(BackboneStateDict, SafetensorsFileRoundTripFullSizeMbf) {
  auto source = trained_source("mbf", BackboneOptions(), 112);
  const std::string path = ::testing::TempDir() + "/ff_models_mbf_" + std::to_string(::getpid()) + ".safetensors";
  save_safetensors(path, source->state_dict());
  auto fresh = create_backbone("mbf");
  fresh->eval();
  const SafetensorsContents file = load_safetensors(path);
  std::remove(path.c_str());
  EXPECT_EQ(file.tensors.size(), 333u);
  EXPECT_EQ(file.tensors.at("layers.0.layers.1.num_batches_tracked").dtype(), DType::Int64);
  EXPECT_EQ(file.tensors.at("layers.0.layers.1.num_batches_tracked").item<int64_t>(), 1);
  fresh->load_state_dict(file.tensors);
  const Tensor x = random_images(2, 112, 10);
  autograd::NoGradGuard no_grad;
  EXPECT_EQ(max_abs_diff(source->forward(x), fresh->forward(x)), 0.0);
}

TEST(BackboneStateDict, LoadingAnotherNetworkFailsWithKeys) {
  auto r18 = create_backbone("r18", tiny_options());
  auto r34 = create_backbone("r34", tiny_options());
  testing::expect_error_containing([&] { r18->load_state_dict(r34->state_dict()); }, {"layer1.2"});
}

}  // namespace
}  // namespace ff::models
