// A synthetic 10-class image task for the small-CNN example and the convergence test.
//
// Each class is a fixed random 5x5 binary glyph. A sample stamps its class's glyph at a
// random position of a 1 x 14 x 14 canvas and adds Gaussian noise, so a model must find the
// glyph wherever it is: a job for convolutions plus pooling, not for a linear probe.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "framework/faceflow.h"

namespace ff::examples {

struct ShapesDataset {
  Tensor images;  // float32 [N, 1, 14, 14]
  Tensor labels;  // int64 [N]
};

constexpr int kShapeClasses = 10;
constexpr int kCanvas = 14;
constexpr int kGlyph = 5;

// Glyphs depend only on `glyph_seed`; samples on `sample_seed`. Train and test sets share the
// glyphs and differ in samples.
inline ShapesDataset make_shapes_dataset(int64_t n, uint64_t sample_seed, uint64_t glyph_seed = 2024,
                                         float noise_std = 0.35f) {
  std::mt19937_64 glyph_rng(glyph_seed);
  std::vector<std::vector<float>> glyphs(kShapeClasses, std::vector<float>(kGlyph * kGlyph));
  for (auto& g : glyphs) {
    for (auto& v : g) v = (glyph_rng() & 1) ? 1.0f : -1.0f;
  }
  std::mt19937_64 rng(sample_seed);
  std::normal_distribution<float> noise(0.0f, noise_std);
  std::uniform_int_distribution<int> pos(0, kCanvas - kGlyph);
  std::uniform_int_distribution<int> cls(0, kShapeClasses - 1);
  std::vector<float> pixels(static_cast<size_t>(n) * kCanvas * kCanvas);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int c = cls(rng);
    labels[i] = c;
    float* img = pixels.data() + i * kCanvas * kCanvas;
    for (int p = 0; p < kCanvas * kCanvas; ++p) img[p] = noise(rng);
    const int y0 = pos(rng), x0 = pos(rng);
    for (int y = 0; y < kGlyph; ++y) {
      for (int x = 0; x < kGlyph; ++x) img[(y0 + y) * kCanvas + (x0 + x)] += glyphs[c][y * kGlyph + x];
    }
  }
  return {tensor_from(pixels, {n, 1, kCanvas, kCanvas}), tensor_from(labels, {n})};
}

// conv-bn-relu x2 with pooling, then a linear classifier.
inline std::shared_ptr<nn::Sequential> make_small_cnn() {
  auto net = std::make_shared<nn::Sequential>();
  net->add(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 16, 3).set_padding(1).set_bias(false)));
  net->add(std::make_shared<nn::BatchNorm2d>(16));
  net->add(std::make_shared<nn::ReLU>());
  net->add(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(16, 32, 3).set_padding(1).set_bias(false)));
  net->add(std::make_shared<nn::BatchNorm2d>(32));
  net->add(std::make_shared<nn::ReLU>());
  net->add(std::make_shared<nn::MaxPool2d>(2));
  net->add(std::make_shared<nn::GlobalAvgPool2d>());
  net->add(std::make_shared<nn::Flatten>());
  net->add(std::make_shared<nn::Linear>(32, kShapeClasses));
  return net;
}

struct TrainReport {
  std::vector<double> epoch_loss;
  double test_accuracy = 0.0;
};

// Fraction of rows whose argmax equals the label.
inline double accuracy(nn::Module& net, const ShapesDataset& data, int64_t batch = 256) {
  autograd::NoGradGuard no_grad;
  net.eval();
  int64_t correct = 0;
  const int64_t n = data.labels.numel();
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t len = std::min(batch, n - b);
    Tensor logits = net.forward(data.images.narrow(0, b, len));
    Tensor pred = argmax(logits, 1);
    correct += sum(eq(pred, data.labels.narrow(0, b, len))).item<int64_t>();
  }
  net.train();
  return static_cast<double>(correct) / static_cast<double>(n);
}

// SGD with momentum and a cosine schedule; returns per-epoch loss and held-out accuracy.
inline TrainReport train_small_cnn(nn::Module& net, const ShapesDataset& train, const ShapesDataset& test,
                                   int epochs, int64_t batch, double lr, bool verbose) {
  optim::SGD opt(net.parameters(), optim::SGDOptions(lr).momentum(0.9).weight_decay(5e-4));
  const int64_t n = train.labels.numel();
  const int64_t steps_per_epoch = (n + batch - 1) / batch;
  optim::CosineAnnealingLR sched(opt, epochs * steps_per_epoch);
  TrainReport report;
  Generator shuffle_gen(99);
  for (int epoch = 0; epoch < epochs; ++epoch) {
    net.train();
    // A fresh permutation each epoch: argsort of uniform noise.
    const std::vector<float> keys = to_vector<float>(rand({n}, DType::Float32, Device(), &shuffle_gen));
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
    const Tensor perm = tensor_from(order, {n});
    double loss_sum = 0.0;
    for (int64_t b = 0; b < n; b += batch) {
      const int64_t len = std::min(batch, n - b);
      const Tensor idx = perm.narrow(0, b, len);
      Tensor x = index_select(train.images, 0, idx);
      Tensor y = index_select(train.labels, 0, idx);
      Tensor loss = cross_entropy(net.forward(x), y);
      opt.zero_grad();
      loss.backward();
      opt.step();
      sched.step();
      loss_sum += loss.item<double>() * static_cast<double>(len);
    }
    report.epoch_loss.push_back(loss_sum / static_cast<double>(n));
    if (verbose) {
      fmt::print("epoch {:2d}  loss {:.4f}  lr {:.4f}  held-out accuracy {:.2f}%\n", epoch + 1,
                 report.epoch_loss.back(), opt.lr(), 100.0 * accuracy(net, test));
    }
  }
  report.test_accuracy = accuracy(net, test);
  return report;
}

}  // namespace ff::examples
