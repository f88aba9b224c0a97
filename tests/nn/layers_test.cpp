// The layers: forward shapes and values against naive loops, mode-dependent behaviour,
// parameter/buffer layout, and input validation.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/nn/nn.h"
#include "ops/reduce/reduce.h"
#include "tests/nn/nn_test_util.h"

namespace ff::nn {
namespace {

using testing::expect_close;
using testing::expect_error_containing;
using testing::random_input;
using testing::values;

// ---- Linear -------------------------------------------------------------------------------------

TEST(Linear, MatchesHandWrittenProduct) {
  Linear fc(3, 2);
  const Tensor x = random_input({4, 3}, 1);
  const Tensor y = fc(x);
  ASSERT_EQ(y.sizes(), (Shape{4, 2}));
  const auto xv = values(x), w = values(fc.weight), b = values(fc.bias), yv = values(y);
  for (int i = 0; i < 4; ++i) {
    for (int o = 0; o < 2; ++o) {
      double expected = b[o];
      for (int k = 0; k < 3; ++k) expected += xv[i * 3 + k] * w[o * 3 + k];
      EXPECT_NEAR(yv[i * 2 + o], expected, 1e-5);
    }
  }
  EXPECT_EQ(fc.weight.sizes(), (Shape{2, 3}));
  EXPECT_EQ(fc.bias.sizes(), (Shape{2}));
}

TEST(Linear, LeadingDimsNoBiasAndErrors) {
  Linear fc(5, 7, /*bias=*/false);
  EXPECT_FALSE(fc.bias.defined());
  EXPECT_EQ(fc.state_dict().size(), 1u);
  EXPECT_EQ(fc(random_input({2, 3, 5}, 2)).sizes(), (Shape{2, 3, 7}));
  expect_error_containing([&] { fc(random_input({2, 4}, 3)); },
                          {"Linear(in_features=5, out_features=7, bias=False)", "[..., 5]", "float32[2, 4]"});
  expect_error_containing([] { Linear(0, 3); }, {"Linear", "positive"});
}

// ---- Conv2d ---------------------------------------------------------------------------------------

std::vector<double> naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o,
                                 Shape* out_shape) {
  const auto xv = values(x), wv = values(w);
  const std::vector<double> bv = b.defined() ? values(b) : std::vector<double>(o.out_channels, 0.0);
  const int64_t n = x.size(0), c_in = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t kh = o.kernel_size[0], kw = o.kernel_size[1];
  const int64_t ho = (h + 2 * o.padding[0] - o.dilation[0] * (kh - 1) - 1) / o.stride[0] + 1;
  const int64_t wo = (wd + 2 * o.padding[1] - o.dilation[1] * (kw - 1) - 1) / o.stride[1] + 1;
  const int64_t cin_g = c_in / o.groups, cout_g = o.out_channels / o.groups;
  *out_shape = {n, o.out_channels, ho, wo};
  std::vector<double> out(static_cast<size_t>(n * o.out_channels * ho * wo));
  for (int64_t b_i = 0; b_i < n; ++b_i)
    for (int64_t co = 0; co < o.out_channels; ++co)
      for (int64_t oy = 0; oy < ho; ++oy)
        for (int64_t ox = 0; ox < wo; ++ox) {
          double acc = bv[co];
          const int64_t g = co / cout_g;
          for (int64_t ci = 0; ci < cin_g; ++ci)
            for (int64_t ky = 0; ky < kh; ++ky)
              for (int64_t kx = 0; kx < kw; ++kx) {
                const int64_t iy = oy * o.stride[0] - o.padding[0] + ky * o.dilation[0];
                const int64_t ix = ox * o.stride[1] - o.padding[1] + kx * o.dilation[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                acc += xv[((b_i * c_in + g * cin_g + ci) * h + iy) * wd + ix] *
                       wv[((co * cin_g + ci) * kh + ky) * kw + kx];
              }
          out[((b_i * o.out_channels + co) * ho + oy) * wo + ox] = acc;
        }
  return out;
}

void check_conv(const Conv2dOptions& options, const Shape& input_shape, const Shape& expected_shape) {
  Conv2d conv(options);
  const Tensor x = random_input(input_shape, 11);
  const Tensor y = conv(x);
  ASSERT_EQ(y.sizes(), expected_shape) << conv.str();
  Shape naive_shape;
  const std::vector<double> expected = naive_conv2d(x, conv.weight, conv.bias, options, &naive_shape);
  ASSERT_EQ(naive_shape, expected_shape);
  const std::vector<double> got = values(y);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-4) << conv.str() << " at " << i;
}

TEST(Conv2d, ShapesAndValuesWithStridePaddingDilationGroups) {
  // IResNet stem: 3x3, stride 1, pad 1, no bias keeps the spatial size.
  check_conv(Conv2dOptions(3, 8, 3).set_padding(1).set_bias(false), {2, 3, 7, 7}, {2, 8, 7, 7});
  // Downsampling 3x3, stride 2, pad 1: 7 -> 4.
  check_conv(Conv2dOptions(4, 6, 3).set_stride(2).set_padding(1), {1, 4, 7, 7}, {1, 6, 4, 4});
  // Shortcut 1x1 stride 2.
  check_conv(Conv2dOptions(4, 8, 1).set_stride(2).set_bias(false), {2, 4, 6, 6}, {2, 8, 3, 3});
  // Grouped (mobilefacenet's groups=64 conv in small) and depthwise.
  check_conv(Conv2dOptions(4, 6, 3).set_groups(2).set_padding(1), {2, 4, 5, 5}, {2, 6, 5, 5});
  check_conv(Conv2dOptions(6, 6, 3).set_groups(6).set_stride(2), {1, 6, 7, 7}, {1, 6, 3, 3});
  // Rectangular kernel, per-dim stride and padding, dilation.
  check_conv(Conv2dOptions(2, 3, {3, 1}).set_stride({1, 2}).set_padding({0, 1}).set_dilation(2), {1, 2, 9, 6},
             {1, 3, 5, 4});
}

TEST(Conv2d, LayoutDefaultsAndErrors) {
  Conv2d conv(Conv2dOptions(8, 16, 3).set_groups(4));
  EXPECT_EQ(conv.weight.sizes(), (Shape{16, 2, 3, 3}));
  ASSERT_TRUE(conv.bias.defined());  // PyTorch default: bias=True
  EXPECT_EQ(conv.bias.sizes(), (Shape{16}));
  EXPECT_EQ(conv.extra_repr(), "8, 16, kernel_size=(3, 3), stride=(1, 1), groups=4");
  expect_error_containing([] { Conv2d(Conv2dOptions(6, 4, 3).set_groups(4)); },
                          {"Conv2d(6, 4", "divisible by groups (4)"});
  expect_error_containing([] { Conv2d(Conv2dOptions(2, 4, 3).set_stride(0)); }, {"stride", "(0, 0)"});
  expect_error_containing([&] { conv(random_input({1, 3, 8, 8}, 1)); }, {"Conv2d(8, 16", "[N, 8, H, W]", "[1, 3, 8, 8]"});
  expect_error_containing([&] { conv(random_input({8, 8, 8}, 1)); }, {"[N, 8, H, W]"});
}

// ---- BatchNorm ------------------------------------------------------------------------------------

struct ChannelStats {
  std::vector<double> mean, biased_var;
};

ChannelStats channel_stats(const Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), inner = x.numel() / (n * c);
  const auto v = values(x);
  ChannelStats s{std::vector<double>(c, 0.0), std::vector<double>(c, 0.0)};
  const double count = static_cast<double>(n * inner);
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) s.mean[ch] += v[(i * c + ch) * inner + j];
    s.mean[ch] /= count;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) {
        const double d = v[(i * c + ch) * inner + j] - s.mean[ch];
        s.biased_var[ch] += d * d;
      }
    s.biased_var[ch] /= count;
  }
  return s;
}

TEST(BatchNorm2d, TrainingUpdatesRunningStatsEvalDoesNot) {
  BatchNorm2d bn(3);
  EXPECT_EQ(bn.weight.sizes(), (Shape{3}));
  EXPECT_EQ(values(bn.weight), std::vector<double>(3, 1.0));
  EXPECT_EQ(values(bn.bias), std::vector<double>(3, 0.0));
  const Tensor x = random_input({4, 3, 2, 2}, 21, -2.0, 3.0);
  const ChannelStats s = channel_stats(x);
  const double n = 16.0;

  const Tensor y = bn(x);
  ASSERT_EQ(y.sizes(), x.sizes());
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
  const auto rm = values(bn.running_mean), rv = values(bn.running_var);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(rm[c], 0.1 * s.mean[c], 1e-5);
    EXPECT_NEAR(rv[c], 0.9 + 0.1 * s.biased_var[c] * n / (n - 1), 1e-5);  // unbiased variance
  }
  // Training output uses the batch statistics.
  const auto xv = values(x), yv = values(y);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int c = static_cast<int>((i / 4) % 3);
    EXPECT_NEAR(yv[i], (xv[i] - s.mean[c]) / std::sqrt(s.biased_var[c] + 1e-5), 1e-4);
  }

  bn.eval();
  const Tensor y_eval = bn(x);
  EXPECT_EQ(values(bn.running_mean), rm);
  EXPECT_EQ(values(bn.running_var), rv);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
  const auto ye = values(y_eval);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int c = static_cast<int>((i / 4) % 3);
    EXPECT_NEAR(ye[i], (xv[i] - rm[c]) / std::sqrt(rv[c] + 1e-5), 1e-4);
  }
}

TEST(BatchNorm2d, BuffersAreInStateDictAndGradientsFlow) {
  BatchNorm2d bn(BatchNormOptions(4).set_eps(1e-3).set_momentum(0.5));
  const StateDict dict = bn.state_dict();
  for (const char* key : {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}) {
    EXPECT_TRUE(dict.count(key)) << key;
  }
  EXPECT_EQ(bn.buffers().size(), 3u);
  EXPECT_EQ(bn.parameters().size(), 2u);
  Tensor x = random_input({2, 4, 3, 3}, 5).set_requires_grad(true);
  sum(bn(x) * random_input({2, 4, 3, 3}, 6)).backward();
  EXPECT_TRUE(x.grad().defined());
  EXPECT_TRUE(bn.weight.grad().defined());
  EXPECT_TRUE(bn.bias.grad().defined());
  EXPECT_EQ(bn.extra_repr(), "4, eps=0.001, momentum=0.5, affine=True, track_running_stats=True");
}

TEST(BatchNorm, WithoutAffineOrRunningStats) {
  BatchNorm2d bn(BatchNormOptions(2).set_affine(false).set_track_running_stats(false));
  EXPECT_TRUE(bn.state_dict().empty());
  EXPECT_FALSE(bn.running_mean.defined());
  bn.eval();  // no running stats: batch statistics even in eval
  const Tensor x = random_input({3, 2, 2, 2}, 8);
  const auto y = values(bn(x));
  const ChannelStats s = channel_stats(x);
  const auto xv = values(x);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int c = static_cast<int>((i / 4) % 2);
    EXPECT_NEAR(y[i], (xv[i] - s.mean[c]) / std::sqrt(s.biased_var[c] + 1e-5), 1e-4);
  }
}

TEST(BatchNorm1d, ShapesCumulativeMomentumAndErrors) {
  BatchNorm1d bn(BatchNormOptions(5).set_momentum(std::nullopt));
  EXPECT_NE(bn.str().find("momentum=None"), std::string::npos);
  const Tensor a = random_input({8, 5}, 1), b = random_input({8, 5, 3}, 2, 0.0, 4.0);
  EXPECT_EQ(bn(a).sizes(), (Shape{8, 5}));
  EXPECT_EQ(bn(b).sizes(), (Shape{8, 5, 3}));
  // Cumulative average of the two batch means.
  const ChannelStats sa = channel_stats(a), sb = channel_stats(b);
  const auto rm = values(bn.running_mean);
  for (int c = 0; c < 5; ++c) EXPECT_NEAR(rm[c], 0.5 * (sa.mean[c] + sb.mean[c]), 1e-5);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 2);
  bn.reset_running_stats();
  EXPECT_EQ(values(bn.running_mean), std::vector<double>(5, 0.0));
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 0);

  expect_error_containing([&] { bn(random_input({8, 5, 2, 2}, 3)); }, {"BatchNorm1d(5", "[N, C] or [N, C, L]"});
  expect_error_containing([&] { bn(random_input({8, 4}, 3)); }, {"BatchNorm1d", "5 channels", "[8, 4]"});
  expect_error_containing([&] { bn(random_input({1, 5}, 3)); }, {"more than 1 value per channel"});
  bn.eval();
  EXPECT_EQ(bn(random_input({1, 5}, 3)).sizes(), (Shape{1, 5}));  // fine in eval
  BatchNorm2d bn2(5);
  expect_error_containing([&] { bn2(random_input({8, 5}, 3)); }, {"BatchNorm2d(5", "[N, C, H, W]"});
}

// ---- activations, dropout, flatten ----------------------------------------------------------------

TEST(PReLU, PerChannelAndSharedSlopes) {
  PReLU per_channel(2);
  EXPECT_EQ(values(per_channel.weight), (std::vector<double>{0.25, 0.25}));
  {
    autograd::NoGradGuard no_grad;
    per_channel.weight.copy_(tensor_from(std::vector<float>{0.5f, 0.1f}, {2}));
  }
  const Tensor x = tensor_from(std::vector<float>{-2, 3, -4, 5, -1, 1, -8, 2}, {2, 2, 2});
  testing::expect_values_near(per_channel(x), {-1, 3, -0.4, 5, -0.5, 1, -0.8, 2});
  PReLU shared;
  EXPECT_EQ(shared.weight.sizes(), (Shape{1}));
  EXPECT_EQ(values(shared(x)), (std::vector<double>{-0.5, 3, -1, 5, -0.25, 1, -2, 2}));
  expect_error_containing([&] { PReLU(3)(x); }, {"PReLU(num_parameters=3)", "[N, 3, ...]"});
}

TEST(ReLU, ClampsNegatives) {
  ReLU relu;
  const Tensor x = tensor_from(std::vector<float>{-1, 0, 2.5f, -3}, {2, 2});
  EXPECT_EQ(values(relu(x)), (std::vector<double>{0, 0, 2.5, 0}));
  EXPECT_EQ(relu.str(), "ReLU()");
}

TEST(Dropout, IdentityInEvalMaskedAndScaledInTraining) {
  Generator gen(99);
  Dropout dropout(0.5, &gen);
  const Tensor x = ones({100, 100});
  const Tensor y = dropout(x);
  const auto v = values(y);
  int64_t zeros_count = 0;
  for (double e : v) {
    EXPECT_TRUE(e == 0.0 || e == 2.0) << e;
    zeros_count += e == 0.0;
  }
  EXPECT_NEAR(static_cast<double>(zeros_count) / 10000.0, 0.5, 0.03);
  dropout.eval();
  EXPECT_EQ(values(dropout(x)), values(x));
  Dropout none(0.0);
  EXPECT_EQ(values(none(x)), values(x));  // arcface_torch's p = 0 head dropout
  expect_error_containing([] { Dropout(1.5); }, {"Dropout", "1.5"});
}

TEST(Flatten, MergesTheRequestedDims) {
  const Tensor x = random_input({2, 512, 7, 7}, 1);
  EXPECT_EQ(Flatten()(x).sizes(), (Shape{2, 25088}));
  EXPECT_EQ(Flatten(1, 2)(x).sizes(), (Shape{2, 3584, 7}));
  EXPECT_EQ(Flatten(0, -2)(x).sizes(), (Shape{7168, 7}));
  EXPECT_EQ(values(Flatten()(x)), values(x));
}

// ---- pooling ------------------------------------------------------------------------------------------

TEST(Pool, MaxAvgAndGlobal) {
  // One 4x4 plane holding 0..15.
  std::vector<float> plane(16);
  for (int i = 0; i < 16; ++i) plane[i] = static_cast<float>(i);
  const Tensor x = tensor_from(plane, {1, 1, 4, 4});
  MaxPool2d max_pool(2);  // stride defaults to the kernel
  EXPECT_EQ(max_pool.options().stride, (std::array<int64_t, 2>{2, 2}));
  EXPECT_EQ(values(max_pool(x)), (std::vector<double>{5, 7, 13, 15}));
  AvgPool2d avg_pool(2);
  EXPECT_EQ(values(avg_pool(x)), (std::vector<double>{2.5, 4.5, 10.5, 12.5}));
  // 3x3 stride 2 pad 1: 4 -> 2, padding counted in the divisor by default.
  MaxPool2d overlapping(Pool2dOptions(3).set_stride(2).set_padding(1));
  EXPECT_EQ(overlapping(x).sizes(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(values(overlapping(x)), (std::vector<double>{5, 7, 13, 15}));
  AvgPool2d padded(Pool2dOptions(3).set_stride(2).set_padding(1));
  testing::expect_values_near(padded(x), {(0 + 1 + 4 + 5) / 9.0, (1 + 2 + 3 + 5 + 6 + 7) / 9.0,
                                          (4 + 5 + 8 + 9 + 12 + 13) / 9.0, (5 + 6 + 7 + 9 + 10 + 11 + 13 + 14 + 15) / 9.0},
                              1e-5);
  GlobalAvgPool2d gap;
  const Tensor y = gap(random_input({2, 3, 5, 5}, 1));
  EXPECT_EQ(y.sizes(), (Shape{2, 3, 1, 1}));
  testing::expect_values_near(gap(x), {7.5});
  EXPECT_EQ(max_pool.str(), "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False)");
  expect_error_containing([&] { gap(ones({3, 4, 4})); }, {"GlobalAvgPool2d", "[N, C, H, W]", "[3, 4, 4]"});
  expect_error_containing([] { MaxPool2d(Pool2dOptions(2).set_padding(2)); }, {"MaxPool2d", "padding (2, 2)"});
}

// ---- Sequential -------------------------------------------------------------------------------------

TEST(Sequential, ChainsForward) {
  auto fc1 = std::make_shared<Linear>(4, 6);
  auto fc2 = std::make_shared<Linear>(6, 3);
  Sequential seq{fc1, std::make_shared<ReLU>(), fc2};
  const Tensor x = random_input({5, 4}, 4);
  expect_close(seq(x), fc2->forward(ReLU()(fc1->forward(x))), 0.0);
  EXPECT_EQ(seq.size(), 3u);
  EXPECT_EQ(seq.at<Linear>(2).get(), fc2.get());
  Sequential built;  // add() is push_back
  built.add(fc1);
  built.add("act", std::make_shared<ReLU>());
  EXPECT_EQ(built.named_children()[1].first, "act");
  EXPECT_EQ(seq[1]->name(), "ReLU");
  // A child without a single-input forward is reported by name.
  seq.push_back(std::make_shared<ModuleList>());
  expect_error_containing([&] { seq(x); }, {"ModuleList", "forward", "in Sequential (3): ModuleList"});
  // Nested containers name the whole path to the failing layer.
  Sequential outer{std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<ReLU>(), std::make_shared<Linear>(2, 2)})};
  expect_error_containing([&] { outer(x); },
                          {"[..., 2]", "in Sequential (1): Linear\n  in Sequential (0): Sequential"});
}

TEST(Sequential, ArcfaceStyleStem) {
  Sequential stem{std::make_shared<Conv2d>(Conv2dOptions(3, 8, 3).set_padding(1).set_bias(false)),
                  std::make_shared<BatchNorm2d>(8), std::make_shared<PReLU>(8)};
  const Tensor x = random_input({2, 3, 12, 12}, 12);
  Tensor y = stem(x);
  EXPECT_EQ(y.sizes(), (Shape{2, 8, 12, 12}));
  sum(y).backward();
  for (const auto& [path, p] : stem.named_parameters()) EXPECT_TRUE(p.grad().defined()) << path;
  EXPECT_EQ(stem.num_parameters(), 8 * 3 * 9 + 8 + 8 + 8);
}

}  // namespace
}  // namespace ff::nn
