// embed_images / evaluate_backbone on a tiny network: the flip-sum, XNorm over the raw outputs,
// eval mode under the call (and each module's mode restored after), batching.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "apps/common/verification_eval.h"
#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "models/model_factory.h"
#include "ops/tensor_ops/random.h"

namespace ff::apps {
namespace {

std::shared_ptr<models::Backbone> tiny_backbone(uint64_t seed) {
  Generator gen(seed);
  auto options = models::BackboneOptions().set_width_divisor(8).set_input_size(16).set_embedding_size(8).set_generator(&gen);
  auto backbone = std::dynamic_pointer_cast<models::Backbone>(models::create_backbone("r18", options));
  FF_ASSERT(backbone != nullptr, "r18 is a Backbone");
  return backbone;
}

// The left-right mirror of an NCHW float32 tensor, written out element by element.
Tensor mirror(const Tensor& x) {
  const Tensor c = x.contiguous();
  Tensor out = Tensor::empty(c.sizes(), DType::Float32);
  const int64_t rows = c.numel() / c.size(3), w = c.size(3);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < w; ++k) out.data<float>()[r * w + k] = c.data<float>()[r * w + (w - 1 - k)];
  }
  return out;
}

TEST(VerificationEmbedding, FlipSumAndXNormOfRawOutputs) {
  auto backbone = tiny_backbone(3);
  Generator gen(11);
  const Tensor images = randn({6, 3, 16, 16}, DType::Float32, Device(), &gen);

  // Expected, by hand: eval-mode outputs of the whole set at once, originals and mirrors.
  Tensor expected_sum, raw, raw_flip;
  {
    autograd::NoGradGuard no_grad;
    backbone->eval();
    raw = backbone->forward(images).contiguous();
    raw_flip = backbone->forward(mirror(images)).contiguous();
    expected_sum = (raw + raw_flip).contiguous();
  }
  double norm_sum = 0;
  for (const Tensor* t : {&raw, &raw_flip}) {
    for (int64_t r = 0; r < 6; ++r) {
      double sq = 0;
      for (int64_t k = 0; k < 8; ++k) sq += std::pow(static_cast<double>(t->data<float>()[r * 8 + k]), 2);
      norm_sum += std::sqrt(sq);
    }
  }
  const double expected_xnorm = norm_sum / 12.0;  // 6 originals + 6 mirrors

  // The module starts in training mode with one BatchNorm deliberately in eval mode: both must
  // come back as they were. Batches of 4 (the last one short) must not change the numbers, which
  // also shows BatchNorm ran on running statistics (in training mode it would use batch ones).
  backbone->train();
  models::Backbone& b = *backbone;
  nn::Module* frozen = nullptr;
  for (auto& [name, m] : b.named_modules()) {
    if (name == "bn1") frozen = m;
  }
  ASSERT_NE(frozen, nullptr);
  frozen->eval();

  VerificationOptions options;
  options.batch_size = 4;
  const TargetEmbeddings got = embed_images(*backbone, images, options);
  ASSERT_EQ(got.embeddings.sizes(), Shape({6, 8}));
  EXPECT_EQ(got.embeddings.dtype(), DType::Float32);
  EXPECT_FALSE(got.embeddings.requires_grad());
  for (int64_t i = 0; i < 48; ++i) {
    EXPECT_NEAR(got.embeddings.data<float>()[i], expected_sum.data<float>()[i], 1e-4f) << "element " << i;
  }
  EXPECT_NEAR(got.xnorm, expected_xnorm, 1e-4 * expected_xnorm);

  EXPECT_TRUE(backbone->is_training());
  EXPECT_FALSE(frozen->is_training());
  for (auto& [name, m] : b.named_modules()) {
    if (m != frozen) {
      EXPECT_TRUE(m->is_training()) << name;
    }
  }

  // Without flip: the plain outputs, XNorm over the 6 of them.
  options.flip = false;
  const TargetEmbeddings plain = embed_images(*backbone, images, options);
  double plain_norms = 0;
  for (int64_t r = 0; r < 6; ++r) {
    double sq = 0;
    for (int64_t k = 0; k < 8; ++k) {
      EXPECT_NEAR(plain.embeddings.data<float>()[r * 8 + k], raw.data<float>()[r * 8 + k], 1e-4f);
      sq += std::pow(static_cast<double>(raw.data<float>()[r * 8 + k]), 2);
    }
    plain_norms += std::sqrt(sq);
  }
  EXPECT_NEAR(plain.xnorm, plain_norms / 6.0, 1e-4 * plain.xnorm);
}

TEST(VerificationEmbedding, EvaluateBackboneScoresTheFlipSum) {
  auto backbone = tiny_backbone(5);
  Generator gen(7);
  ValidationTarget target;
  target.name = "hand";
  target.path = "hand.bin";
  target.images = randn({20, 3, 16, 16}, DType::Float32, Device(), &gen);
  for (int i = 0; i < 10; ++i) target.issame.push_back(i % 3 == 0);

  VerificationOptions options;
  options.batch_size = 7;
  const VerificationResult r = evaluate_backbone(*backbone, target, options);
  const TargetEmbeddings e = embed_images(*backbone, target.images, options);
  const VerificationResult direct = evaluate_embeddings(e.embeddings, target.issame);
  EXPECT_EQ(r.fold_accuracies, direct.fold_accuracies);
  EXPECT_EQ(r.fold_thresholds, direct.fold_thresholds);
  EXPECT_DOUBLE_EQ(r.accuracy_mean, direct.accuracy_mean);
  // XNorm is that of the raw outputs, not of the flip-sums evaluate_embeddings sees.
  EXPECT_DOUBLE_EQ(r.xnorm, e.xnorm);
  EXPECT_NE(r.xnorm, direct.xnorm);
  EXPECT_GE(r.accuracy_mean, 0.0);
  EXPECT_LE(r.accuracy_mean, 1.0);
}

TEST(VerificationEmbedding, BadShapesAreErrors) {
  auto backbone = tiny_backbone(1);
  ValidationTarget target;
  target.path = "odd.bin";
  target.images = Tensor::empty({6, 3, 16, 16}, DType::Float32);
  target.images.fill_(0.0);
  target.issame = std::vector<bool>(10, true);  // 20 images needed
  try {
    evaluate_backbone(*backbone, target);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("odd.bin"), std::string::npos) << e.what();
  }
  // Wrong input size for the network: the error names the target file.
  target.images = Tensor::empty({20, 3, 24, 24}, DType::Float32);
  target.images.fill_(0.0);
  try {
    evaluate_backbone(*backbone, target);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("odd.bin"), std::string::npos) << e.what();
  }
  VerificationOptions zero_batch;
  zero_batch.batch_size = 0;
  EXPECT_THROW(embed_images(*backbone, Tensor::empty({2, 3, 16, 16}), zero_batch), Error);
  EXPECT_THROW(embed_images(*backbone, Tensor::empty({2, 16, 16})), Error);
}

}  // namespace
}  // namespace ff::apps
