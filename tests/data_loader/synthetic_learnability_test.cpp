// The synthetic dataset must be learnable but not trivial (numbers in docs/data.md):
//   - an embedding that ignores the image verifies at chance (~50%);
//   - raw-pixel cosine similarity, and the same after a random projection (an untrained linear
//     "network"), is far from perfect on held-out identities;
//   - a non-learned baseline that knows the identities (nearest identity-mean template, on
//     unseen images of training identities) is far above chance;
//   - a quick training run (a tiny CNN, seconds on a CPU) verifies held-out identities much
//     better than raw pixels.
// Each test prints its numbers ("[synthetic] ...") for the docs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "data/decode/resize.h"
#include "data/loader/data_loader.h"
#include "data/synthetic/synthetic_dataset.h"
#include "framework/faceflow.h"
#include "tests/data_loader/face_metrics.h"

namespace ff::data {
namespace {

using testing::cosine;
using testing::kfold_verification_accuracy;

// 100 training identities x 10 images; one lfw-like validation set of 600 pairs over 100
// held-out identities.
struct Data {
  SyntheticOptions options;
  std::vector<FaceExample> train;
  VerificationSet val;
  static const Data& get() {
    static const Data data = [] {
      Data d;
      d.options.num_identities = 100;
      d.options.images_per_identity = 10;
      d.options.val_identities = 100;
      d.options.val_pairs = 600;
      d.options.seed = 7;
      d.options.validation = {default_validation_specs()[0]};
      d.train = make_synthetic_train_examples(d.options);
      d.val = make_synthetic_verification_set(d.options, 0);
      return d;
    }();
    return data;
  }
};

// The loader's normalisation of a JPEG, CHW.
std::vector<float> chw_pixels(const std::vector<uint8_t>& jpeg) {
  const RgbImage img = decode_jpeg(jpeg, "synthetic");
  std::vector<float> out(img.pixels.size());
  to_normalized_chw(img, false, out.data());
  return out;
}

// A "reasonable" hand-made pixel descriptor: 56x56, each channel standardised per image
// (removes brightness/contrast/colour cast), pixels outside a central face ellipse zeroed
// (removes most of the background).
std::vector<float> standardised_face_pixels(const std::vector<uint8_t>& jpeg) {
  constexpr int size = 56;
  const RgbImage img = resize_bilinear(decode_jpeg(jpeg, "synthetic"), size, size);
  std::vector<float> f(img.pixels.begin(), img.pixels.end());
  for (int c = 0; c < 3; ++c) {
    double mean = 0, sq = 0;
    const size_t n = f.size() / 3;
    for (size_t i = c; i < f.size(); i += 3) mean += f[i];
    mean /= n;
    for (size_t i = c; i < f.size(); i += 3) sq += (f[i] - mean) * (f[i] - mean);
    const double sd = std::sqrt(sq / n) + 1e-6;
    for (size_t i = c; i < f.size(); i += 3) f[i] = static_cast<float>((f[i] - mean) / sd);
  }
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const float u = (x + 0.5f) / size * 2 - 1, v = (y + 0.5f) / size * 2 - 1;
      if (u * u / 0.36f + v * v / 0.64f >= 1.f) {
        for (int c = 0; c < 3; ++c) f[(y * size + x) * 3 + c] = 0.f;
      }
    }
  }
  return f;
}

double pair_accuracy(const VerificationSet& val, const std::vector<std::vector<float>>& embeddings) {
  std::vector<double> scores;
  for (size_t p = 0; p < val.issame.size(); ++p) scores.push_back(cosine(embeddings[2 * p], embeddings[2 * p + 1]));
  return kfold_verification_accuracy(scores, val.issame);
}

double raw_pixel_accuracy() {
  static const double acc = [] {
    const Data& d = Data::get();
    std::vector<std::vector<float>> e;
    for (const auto& jpeg : d.val.images) e.push_back(chw_pixels(jpeg));
    return pair_accuracy(d.val, e);
  }();
  return acc;
}

TEST(SyntheticLearnability, ImageIndependentEmbeddingIsAtChance) {
  const Data& d = Data::get();
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> e(d.val.images.size(), std::vector<float>(128));
  for (auto& v : e) {
    for (auto& x : v) x = normal(rng);
  }
  const double acc = pair_accuracy(d.val, e);
  std::printf("[synthetic] image-independent random embedding: verification %.3f\n", acc);
  EXPECT_NEAR(acc, 0.5, 0.07);
}

TEST(SyntheticLearnability, RawPixelsAreFarFromPerfect) {
  const Data& d = Data::get();
  // Random projection 3*112*112 -> 256 of all validation images at once (OpenBLAS GEMM).
  const int64_t n = static_cast<int64_t>(d.val.images.size()), dim = 3 * 112 * 112;
  std::vector<float> stacked;
  for (const auto& jpeg : d.val.images) {
    const auto f = chw_pixels(jpeg);
    stacked.insert(stacked.end(), f.begin(), f.end());
  }
  Generator gen(3);
  const Tensor projected = matmul(tensor_from(stacked, {n, dim}), randn({dim, 256}, DType::Float32, Device(), &gen));
  const std::vector<float> flat = to_vector<float>(projected);
  std::vector<std::vector<float>> e;
  for (int64_t i = 0; i < n; ++i) e.emplace_back(flat.begin() + i * 256, flat.begin() + (i + 1) * 256);
  const double projected_acc = pair_accuracy(d.val, e);
  const double pixel_acc = raw_pixel_accuracy();
  std::printf("[synthetic] held-out verification: raw-pixel cosine %.3f, random projection to 256-d %.3f\n", pixel_acc,
              projected_acc);
  EXPECT_LT(pixel_acc, 0.75);
  EXPECT_LT(projected_acc, 0.75);
  EXPECT_GT(pixel_acc, 0.45);
}

TEST(SyntheticLearnability, IdentityTemplatesAreFarAboveChance) {
  // Templates: mean descriptor of images 0..7 of each training identity; queries: images 8, 9.
  const Data& d = Data::get();
  const int64_t k = d.options.images_per_identity, ids = d.options.num_identities;
  std::vector<std::vector<float>> templates(ids);
  std::vector<std::pair<int32_t, std::vector<float>>> queries;
  for (size_t i = 0; i < d.train.size(); ++i) {
    std::vector<float> f = standardised_face_pixels(d.train[i].encoded_jpeg);
    auto& t = templates[d.train[i].label];
    if (static_cast<int64_t>(i) % k < 8) {
      if (t.empty()) t.assign(f.size(), 0.f);
      for (size_t j = 0; j < f.size(); ++j) t[j] += f[j];
    } else {
      queries.emplace_back(d.train[i].label, std::move(f));
    }
  }
  int64_t correct = 0;
  for (const auto& [label, f] : queries) {
    int64_t best = -1;
    double best_score = -2;
    for (int64_t c = 0; c < ids; ++c) {
      const double s = cosine(f, templates[c]);
      if (s > best_score) best_score = s, best = c;
    }
    correct += best == label;
  }
  const double top1 = static_cast<double>(correct) / static_cast<double>(queries.size());
  std::printf("[synthetic] nearest identity template (standardised, masked pixels): top-1 %.3f over %lld identities "
              "(chance %.3f)\n", top1, static_cast<long long>(ids), 1.0 / ids);
  EXPECT_GT(top1, 10.0 / ids);
}

// A tiny CNN: 2x2 average pool to 56x56, three conv-BN-ReLU-maxpool stages (8, 16, 32 channels),
// a 128-d embedding with BatchNorm, softmax over the training identities.
TEST(SyntheticLearnability, QuickTrainingRunLearnsToVerifyHeldOutIdentities) {
  SyntheticOptions o = Data::get().options;
  o.num_identities = 64;
  o.images_per_identity = 8;
  auto source = std::make_shared<InMemoryRecordSource>(make_synthetic_train_examples(o), "synthetic");
  const VerificationSet& val = Data::get().val;  // same seed, held-out identities 100..199: unseen here too

  manual_seed(1);
  auto body = std::make_shared<nn::Sequential>();
  body->add(std::make_shared<nn::AvgPool2d>(nn::Pool2dOptions(2)));
  int64_t channels = 3;
  for (int64_t out : {8, 16, 32}) {
    body->add(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(channels, out, 3).set_padding(1).set_bias(false)));
    body->add(std::make_shared<nn::BatchNorm2d>(out));
    body->add(std::make_shared<nn::ReLU>());
    body->add(std::make_shared<nn::MaxPool2d>(nn::Pool2dOptions(2)));
    channels = out;
  }
  body->add(std::make_shared<nn::Flatten>());
  body->add(std::make_shared<nn::Linear>(channels * 7 * 7, 128));
  body->add(std::make_shared<nn::BatchNorm1d>(128));
  auto head = std::make_shared<nn::Linear>(128, o.num_identities);
  auto params = body->parameters();
  for (const auto& p : head->parameters()) params.push_back(p);

  auto verify = [&] {
    autograd::NoGradGuard no_grad;
    body->eval();
    std::vector<std::vector<float>> e;
    for (size_t i = 0; i < val.images.size(); i += 100) {
      std::vector<float> x;
      const size_t end = std::min(val.images.size(), i + 100);
      for (size_t j = i; j < end; ++j) {
        const auto f = chw_pixels(val.images[j]);
        x.insert(x.end(), f.begin(), f.end());
      }
      const auto n = static_cast<int64_t>(end - i);
      const auto flat = to_vector<float>(body->forward(tensor_from(x, {n, 3, 112, 112})));
      for (int64_t r = 0; r < n; ++r) e.emplace_back(flat.begin() + r * 128, flat.begin() + (r + 1) * 128);
    }
    body->train();
    return pair_accuracy(val, e);
  };

  const double untrained = verify();
  LoaderOptions lo;
  lo.batch_size = 64;
  lo.num_workers = 2;
  lo.sampler.seed = 3;
  DataLoader loader(source, lo);
  const int epochs = 5;
  optim::SGD opt(params, optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
  optim::CosineAnnealingLR schedule(opt, epochs * loader.batches_per_epoch());
  double last_loss = 0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    loader.start_epoch(epoch);
    Batch batch;
    double loss_sum = 0;
    int64_t steps = 0;
    while (loader.next(batch)) {
      Tensor loss = cross_entropy(head->forward(body->forward(batch.images)), batch.labels);
      opt.zero_grad();
      loss.backward();
      opt.step();
      schedule.step();
      loss_sum += loss.item<double>();
      ++steps;
    }
    last_loss = loss_sum / steps;
  }
  const double trained = verify();
  std::printf("[synthetic] tiny CNN on %lld ids x %lld images, %d epochs: train loss %.3f (ln %lld = %.2f), held-out "
              "verification %.3f untrained -> %.3f trained (raw pixels %.3f)\n",
              static_cast<long long>(o.num_identities), static_cast<long long>(o.images_per_identity), epochs, last_loss,
              static_cast<long long>(o.num_identities), std::log(double(o.num_identities)), untrained, trained,
              raw_pixel_accuracy());
  EXPECT_LT(last_loss, 0.5 * std::log(double(o.num_identities)));
  EXPECT_GT(trained, 0.72);
  EXPECT_GT(trained, raw_pixel_accuracy() + 0.08);
}

}  // namespace
}  // namespace ff::data
