// conv2d: forward and both backward kernels against the naive reference in linalg_conv_test_util.h,
// across every kernel path (im2col + GEMM with one or several samples per chunk, the 1x1 shortcut,
// grouped GEMMs, the direct depthwise / narrow-group loop), 16-bit dtypes, and error messages.
#include "ops/conv/conv2d.h"

#include "framework/autograd/autograd.h"
#include "tests/linalg_conv/linalg_conv_test_util.h"

namespace ff {
namespace {

using testing::all_close;
using testing::ConvRef;
using testing::random_tensor;
using testing::throws_error_with;

struct ConvCase {
  const char* name;
  Shape x, w;
  Conv2dParams p;
  bool bias;
};

Conv2dParams params(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                    std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1) {
  Conv2dParams p;
  p.stride = stride, p.padding = padding, p.dilation = dilation, p.groups = groups;
  return p;
}

const std::vector<ConvCase>& cases() {
  static const std::vector<ConvCase> all = {
      {"odd_3x5x7", {2, 3, 5, 7}, {4, 3, 3, 3}, params({1, 1}, {1, 1}), true},
      {"stride2_odd", {2, 3, 9, 11}, {5, 3, 3, 3}, params({2, 2}, {1, 1}), false},
      {"asymmetric_stride_pad", {1, 2, 8, 7}, {3, 2, 2, 3}, params({2, 1}, {0, 2}), true},
      {"dilation2", {2, 3, 9, 8}, {4, 3, 3, 2}, params({1, 1}, {2, 1}, {2, 2}), true},
      {"dilation_stride_mix", {1, 2, 10, 9}, {3, 2, 3, 3}, params({2, 3}, {1, 0}, {2, 1}), false},
      {"groups2_gemm", {2, 16, 6, 5}, {6, 8, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 2), true},
      {"groups2_direct", {2, 4, 6, 5}, {6, 2, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 2), false},
      {"groups64_style", {2, 8, 7, 7}, {8, 2, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 4), false},
      {"depthwise_s2", {2, 8, 9, 9}, {8, 1, 3, 3}, params({2, 2}, {1, 1}, {1, 1}, 8), true},
      {"depthwise_multiplier", {1, 4, 6, 7}, {8, 1, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 4), true},
      {"depthwise_dilated", {2, 3, 8, 8}, {3, 1, 3, 3}, params({1, 1}, {2, 2}, {2, 2}, 3), false},
      // Direct phase-plane loops: rows wider than one 16-float block with a partial last block,
      // stride-2 phases with dilation, mixed strides, more padding than dilation * (k - 1) (the
      // backward to the input then scatters), and several channels per group both ways.
      {"depthwise_wide_rows", {2, 3, 5, 37}, {3, 1, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 3), true},
      {"depthwise_s2_dilated_wide", {1, 2, 11, 41}, {2, 1, 3, 3}, params({2, 2}, {2, 2}, {2, 2}, 2), false},
      {"depthwise_stride_2x1_5x5", {2, 2, 9, 19}, {2, 1, 5, 5}, params({2, 1}, {2, 2}, {1, 1}, 2), true},
      {"depthwise_stride3_asymmetric_pad", {1, 2, 13, 17}, {4, 1, 3, 2}, params({3, 2}, {1, 0}, {1, 2}, 2), true},
      {"depthwise_padding_beyond_kernel", {2, 2, 5, 6}, {2, 1, 3, 3}, params({1, 1}, {3, 3}, {1, 1}, 2), false},
      {"groups_cin3_cout2_s2", {2, 6, 9, 21}, {4, 3, 3, 3}, params({2, 2}, {1, 1}, {1, 1}, 2), true},
      // Stride 2 over an even size with no padding: the last input row and column are read by no
      // output, so their gradient must be exactly zero.
      {"depthwise_s2_uncovered_edge", {2, 3, 8, 10}, {3, 1, 3, 3}, params({2, 2}, {0, 0}, {1, 1}, 3), false},
      // Outputs smaller than the kernel: the output-stationary direct loop.
      {"depthwise_gdc_1x1_output", {2, 4, 5, 5}, {4, 1, 5, 5}, params({1, 1}, {0, 0}, {1, 1}, 4), true},
      {"grouped_tiny_output_padded", {1, 4, 3, 4}, {8, 2, 5, 5}, params({1, 1}, {1, 1}, {1, 1}, 2), false},
      {"pointwise_s1", {3, 8, 5, 6}, {16, 8, 1, 1}, params({1, 1}, {0, 0}), true},
      {"downsample_1x1_s2", {3, 8, 9, 9}, {16, 8, 1, 1}, params({2, 2}, {0, 0}), false},
      {"kernel_equals_padded_input", {2, 2, 3, 3}, {2, 2, 5, 5}, params({1, 1}, {1, 1}), true},
      {"batch_chunked_7x7", {5, 4, 7, 7}, {6, 4, 3, 3}, params({1, 1}, {1, 1}), true},
      // hw_out >= 2048: one sample per chunk (tiled by output rows), the GEMM writes NCHW directly.
      {"large_one_sample_chunks", {2, 3, 46, 47}, {4, 3, 3, 3}, params({1, 1}, {1, 1}), true},
      {"large_pointwise_no_im2col", {2, 5, 48, 48}, {3, 5, 1, 1}, params({1, 1}, {0, 0}), true},
      // Large maps are cut into tiles of output rows; the last tile is partial.
      {"large_tiled_stride2_dilated", {1, 2, 100, 90}, {3, 2, 3, 3}, params({2, 2}, {2, 1}, {2, 1}), true},
  };
  return all;
}

Shape expected_out(const ConvCase& c) {
  Shape out{c.x[0], c.w[0], 0, 0};
  for (int i = 0; i < 2; ++i) {
    out[2 + i] = (c.x[2 + i] + 2 * c.p.padding[i] - c.p.dilation[i] * (c.w[2 + i] - 1) - 1) / c.p.stride[i] + 1;
  }
  return out;
}

void check_case(const ConvCase& c, DType dtype, double tol) {
  SCOPED_TRACE(std::string(c.name) + " " + dtype_name(dtype));
  Tensor x = random_tensor(c.x, 100, dtype), w = random_tensor(c.w, 101, dtype);
  Tensor b = c.bias ? random_tensor({c.w[0]}, 102, dtype) : Tensor();
  const Shape out_shape = expected_out(c);
  const ConvRef ref{c.x, c.w, out_shape, c.p};
  const auto xv = to_vector<double>(x), wv = to_vector<double>(w);
  const std::vector<double> bv = c.bias ? to_vector<double>(b) : std::vector<double>{};

  x.set_requires_grad(true);
  w.set_requires_grad(true);
  if (c.bias) b.set_requires_grad(true);
  Tensor y = conv2d(x, w, b, c.p);
  ASSERT_EQ(y.sizes(), out_shape);
  EXPECT_TRUE(all_close(y, ref.forward(xv, wv, bv), tol, tol));

  const Tensor g = random_tensor(out_shape, 103, dtype);
  y.backward(g);
  const auto gv = to_vector<double>(g);
  EXPECT_TRUE(all_close(x.grad(), ref.grad_input(gv, wv), tol, tol)) << "grad_input";
  EXPECT_TRUE(all_close(w.grad(), ref.grad_weight(gv, xv), tol * 10, tol)) << "grad_weight";  // long sums
  if (c.bias) {
    std::vector<double> gb(c.w[0], 0.0);
    const int64_t hw = out_shape[2] * out_shape[3];
    for (size_t e = 0; e < gv.size(); ++e) gb[(e / hw) % c.w[0]] += gv[e];
    EXPECT_TRUE(all_close(b.grad(), gb, tol * 10, tol)) << "grad_bias";
  }
}

TEST(Conv2d, Float32MatchesReference) {
  for (const auto& c : cases()) check_case(c, DType::Float32, 1e-4);
}

TEST(Conv2d, Float64MatchesReference) {
  for (const auto& c : cases()) check_case(c, DType::Float64, 1e-11);
}

TEST(Conv2d, NonContiguousInputsAreAccepted) {
  // x as a permuted NHWC buffer, weight as a sliced view.
  const Tensor x_nhwc = random_tensor({2, 6, 5, 3}, 110);
  const Tensor x = x_nhwc.permute({0, 3, 1, 2});  // [2, 3, 6, 5], non-contiguous
  const Tensor w_big = random_tensor({8, 3, 3, 3}, 111);
  const Tensor w = w_big.slice(0, 0, 8, 2);  // [4, 3, 3, 3], every other filter
  const Conv2dParams p = params({1, 1}, {1, 1});
  ASSERT_FALSE(x.is_contiguous());
  ASSERT_FALSE(w.is_contiguous());
  EXPECT_TRUE(all_close(conv2d(x, w, Tensor(), p), conv2d(x.contiguous(), w.contiguous(), Tensor(), p), 1e-6, 1e-6));
}

TEST(Conv2d, OutputShapeHelperMatchesConv) {
  const Tensor x = zeros({2, 4, 13, 11}), w = zeros({6, 2, 3, 3});
  const Conv2dParams p = params({2, 2}, {1, 1}, {1, 1}, 2);
  EXPECT_EQ(conv2d_output_shape(x, w, Tensor(), p), (Shape{2, 6, 7, 6}));
  EXPECT_EQ(conv2d(x, w, Tensor(), p).sizes(), (Shape{2, 6, 7, 6}));
}

// 16-bit: the kernels widen to float and round once; compared with float32 on the same rounded
// inputs the error is the output rounding (2^-11 relative for fp16, 2^-8 for bf16) plus float
// accumulation noise. Outputs here stay below ~6 in magnitude.
TEST(Conv2d, HalfAndBFloat16MatchFloat32) {
  std::vector<const ConvCase*> picked;
  for (const auto& c : cases()) {
    for (const char* name : {"odd_3x5x7", "groups2_gemm", "depthwise_s2", "batch_chunked_7x7", "depthwise_gdc_1x1_output"}) {
      if (std::string(c.name) == name) picked.push_back(&c);
    }
  }
  ASSERT_EQ(picked.size(), 5u);
  for (const auto& [dtype, atol, rtol] : {std::tuple{DType::Float16, 4e-3, 2e-3}, std::tuple{DType::BFloat16, 3e-2, 1e-2}}) {
    for (const ConvCase* c : picked) {
      SCOPED_TRACE(std::string(c->name) + " " + dtype_name(dtype));
      Tensor x = random_tensor(c->x, 120, dtype), w = random_tensor(c->w, 121, dtype);
      Tensor b = random_tensor({c->w[0]}, 122, dtype);
      x.set_requires_grad(true);
      w.set_requires_grad(true);
      Tensor y = conv2d(x, w, b, c->p);
      ASSERT_EQ(y.dtype(), dtype);
      Tensor x32 = x.detach().to(DType::Float32), w32 = w.detach().to(DType::Float32);
      x32.set_requires_grad(true);
      w32.set_requires_grad(true);
      Tensor y32 = conv2d(x32, w32, b.to(DType::Float32), c->p);
      EXPECT_TRUE(all_close(y, y32, atol, rtol));
      const Tensor g = random_tensor(y.sizes(), 123, dtype);
      y.backward(g);
      y32.backward(g.to(DType::Float32));
      EXPECT_TRUE(all_close(x.grad(), x32.grad(), atol, rtol)) << "grad_input";
      EXPECT_TRUE(all_close(w.grad(), w32.grad(), atol * 10, rtol)) << "grad_weight";
    }
  }
}

TEST(Conv2dErrors, ChannelsNotDivisibleByGroups) {
  const Tensor x = zeros({1, 6, 8, 8}), w = zeros({4, 2, 3, 3});
  EXPECT_TRUE(throws_error_with([&] { conv2d(x, w, Tensor(), params({1, 1}, {0, 0}, {1, 1}, 4)); },
                                {"conv2d", "divisible by groups", "[1, 6, 8, 8]", "[4, 2, 3, 3]"}));
}

TEST(Conv2dErrors, WeightChannelsPerGroupMismatch) {
  const Tensor x = zeros({1, 6, 8, 8}), w = zeros({4, 6, 3, 3});
  EXPECT_TRUE(throws_error_with([&] { conv2d(x, w, Tensor(), params({1, 1}, {0, 0}, {1, 1}, 2)); },
                                {"conv2d", "[4, 6, 3, 3]", "[1, 6, 8, 8]", "groups 2", "needs 3"}));
}

TEST(Conv2dErrors, RanksAndBias) {
  EXPECT_TRUE(throws_error_with([&] { conv2d(zeros({6, 8, 8}), zeros({4, 6, 3, 3})); }, {"conv2d", "[6, 8, 8]"}));
  EXPECT_TRUE(throws_error_with([&] { conv2d(zeros({1, 6, 8, 8}), zeros({4, 6, 3})); }, {"conv2d", "[4, 6, 3]"}));
  EXPECT_TRUE(throws_error_with([&] { conv2d(zeros({1, 6, 8, 8}), zeros({4, 6, 3, 3}), zeros({5})); },
                                {"conv2d", "bias", "[5]", "[4, 6, 3, 3]"}));
}

TEST(Conv2dErrors, KernelLargerThanPaddedInput) {
  const Tensor x = zeros({1, 2, 4, 9}), w = zeros({3, 2, 3, 3});
  // Dilated extent 2 * (3 - 1) + 1 = 5 > 4 rows.
  EXPECT_TRUE(throws_error_with([&] { conv2d(x, w, Tensor(), params({1, 1}, {0, 0}, {2, 1})); },
                                {"conv2d", "larger than the padded input", "[1, 2, 4, 9]", "[3, 2, 3, 3]", "5"}));
}

TEST(Conv2dErrors, BadParametersAndDtypes) {
  const Tensor x = zeros({1, 2, 8, 8}), w = zeros({3, 2, 3, 3});
  EXPECT_TRUE(throws_error_with([&] { conv2d(x, w, Tensor(), params({0, 1}, {0, 0})); }, {"conv2d", "stride [0, 1]"}));
  EXPECT_TRUE(throws_error_with([&] { conv2d(x, w, Tensor(), params({1, 1}, {-1, 0})); }, {"conv2d", "padding [-1, 0]"}));
  EXPECT_TRUE(throws_error_with([&] { conv2d(x, w, Tensor(), params({1, 1}, {0, 0}, {1, 1}, 0)); }, {"conv2d", "groups"}));
  EXPECT_TRUE(throws_error_with([&] { conv2d(x, zeros({3, 2, 3, 3}, DType::Float64)); },
                                {"conv2d", "float32[1, 2, 8, 8]", "float64[3, 2, 3, 3]"}));
}

}  // namespace
}  // namespace ff
