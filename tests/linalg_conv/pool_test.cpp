// max_pool2d, avg_pool2d, global_avg_pool2d: values and gradients against naive loops written from
// PyTorch's definitions (ceil_mode, count_include_pad, first-maximum gradients), output-size rules,
// 16-bit dtypes, and error messages.
#include "ops/pool/pool.h"

#include <limits>

#include "framework/autograd/autograd.h"
#include "tests/linalg_conv/linalg_conv_test_util.h"

namespace ff {
namespace {

using testing::all_close;
using testing::random_tensor;
using testing::throws_error_with;

Pool2dParams pool(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride = {0, 0},
                  std::array<int64_t, 2> padding = {0, 0}, bool ceil_mode = false) {
  Pool2dParams p;
  p.kernel = kernel, p.stride = stride, p.padding = padding, p.ceil_mode = ceil_mode;
  return p;
}

// Reference output size, from the definition rather than the op's formula. Windows start at
// o * stride - pad. Floor mode keeps the windows that fit in the padded input. Ceil mode also keeps
// one partial window while the padded input is not yet covered, unless it would start in the right
// padding. (Valid for in + 2 pad >= kernel.)
int64_t ref_out_size(int64_t in, int64_t k, int64_t s, int64_t pad, bool ceil_mode) {
  int64_t count = 0;
  for (int64_t o = 0;; ++o) {
    const int64_t start = o * s - pad;
    if (start + k <= in + pad) {
      ++count;
      continue;
    }
    const int64_t previous_end = start - s + k;
    if (ceil_mode && previous_end < in + pad && start < in) ++count;
    break;
  }
  return count;
}

struct PoolRef {
  Shape x;
  Pool2dParams p;  // stride resolved
  Shape out() const {
    return {x[0], x[1], ref_out_size(x[2], p.kernel[0], p.stride[0], p.padding[0], p.ceil_mode),
            ref_out_size(x[3], p.kernel[1], p.stride[1], p.padding[1], p.ceil_mode)};
  }
  // visit(out_index, list of in-input x indices, divisor with padding counted)
  template <typename Visit>
  void windows(Visit&& visit) const {
    const Shape o = out();
    for (int64_t plane = 0; plane < x[0] * x[1]; ++plane)
      for (int64_t oh = 0; oh < o[2]; ++oh)
        for (int64_t ow = 0; ow < o[3]; ++ow) {
          std::vector<int64_t> inside;
          int64_t padded_count = 0;
          for (int64_t i = 0; i < p.kernel[0]; ++i)
            for (int64_t j = 0; j < p.kernel[1]; ++j) {
              const int64_t ih = oh * p.stride[0] - p.padding[0] + i, iw = ow * p.stride[1] - p.padding[1] + j;
              // count_include_pad counts padding cells but not cells past the padding (ceil mode).
              if (ih < x[2] + p.padding[0] && iw < x[3] + p.padding[1]) ++padded_count;
              if (ih >= 0 && ih < x[2] && iw >= 0 && iw < x[3]) inside.push_back((plane * x[2] + ih) * x[3] + iw);
            }
          visit((plane * o[2] + oh) * o[3] + ow, inside, padded_count);
        }
  }
};

PoolRef make_ref(const Shape& x, Pool2dParams p) {
  for (int i = 0; i < 2; ++i) {
    if (p.stride[i] == 0) p.stride[i] = p.kernel[i];
  }
  return {x, p};
}

const std::vector<std::pair<Shape, Pool2dParams>>& pool_cases() {
  static const std::vector<std::pair<Shape, Pool2dParams>> all = {
      {{2, 3, 5, 7}, pool({2, 2})},                          // odd sizes, floor drops the last column/row
      {{1, 2, 8, 8}, pool({3, 3}, {2, 2})},                  // overlapping windows
      {{1, 2, 8, 8}, pool({3, 3}, {2, 2}, {0, 0}, true)},    // ceil adds a partial window
      {{2, 2, 5, 5}, pool({2, 2}, {2, 2}, {1, 1}, true)},    // ceil window dropped: it would start in padding
      {{1, 3, 7, 6}, pool({3, 3}, {2, 2}, {1, 1})},          // padding
      {{1, 1, 9, 7}, pool({3, 2}, {2, 1}, {1, 1}, true)},    // asymmetric, everything on
      {{2, 4, 4, 4}, pool({4, 4})},                          // one window per plane
  };
  return all;
}

TEST(MaxPool2d, ValuesAndGradientsMatchReference) {
  for (const auto& [shape, p] : pool_cases()) {
    SCOPED_TRACE(shape_str(shape));
    const PoolRef ref = make_ref(shape, p);
    // A permutation of distinct values: no ties, so the reference argmax is unambiguous.
    Tensor x = random_tensor(shape, 200, DType::Float64);
    x.set_requires_grad(true);
    Tensor y = max_pool2d(x, p);
    ASSERT_EQ(y.sizes(), ref.out());
    const auto xv = to_vector<double>(x);
    const Tensor g = random_tensor(y.sizes(), 201, DType::Float64);
    const auto gv = to_vector<double>(g);
    std::vector<double> expect(y.numel()), gx(x.numel(), 0.0);
    ref.windows([&](int64_t o, const std::vector<int64_t>& inside, int64_t) {
      int64_t best = inside[0];
      for (int64_t i : inside) best = xv[i] > xv[best] ? i : best;
      expect[o] = xv[best];
      gx[best] += gv[o];
    });
    EXPECT_TRUE(all_close(y, expect, 0.0, 0.0));
    y.backward(g);
    EXPECT_TRUE(all_close(x.grad(), gx, 1e-15, 1e-15));
  }
}

TEST(MaxPool2d, TiesSendTheGradientToTheFirstMaximum) {
  Tensor x = ones({1, 1, 4, 4}, DType::Float64);
  x.set_requires_grad(true);
  Tensor y = max_pool2d(x, pool({2, 2}));
  y.backward(ones_like(y));
  std::vector<double> expect(16, 0.0);
  for (int r : {0, 2})
    for (int c : {0, 2}) expect[r * 4 + c] = 1.0;  // top-left of each window
  EXPECT_TRUE(all_close(x.grad(), expect, 0.0, 0.0));
}

TEST(MaxPool2d, PaddingIsMinusInfinity) {
  const Tensor x = full({1, 1, 2, 2}, -5.0);
  const Tensor y = max_pool2d(x, pool({3, 3}, {1, 1}, {1, 1}));
  EXPECT_TRUE(all_close(y, std::vector<double>(4, -5.0), 0.0, 0.0));
}

TEST(MaxPool2d, NanPropagates) {
  Tensor x = zeros({1, 1, 2, 2});
  {
    autograd::NoGradGuard guard;
    x.select(2, 1).select(2, 0).fill_(std::numeric_limits<double>::quiet_NaN());
  }
  EXPECT_TRUE(std::isnan(max_pool2d(x, pool({2, 2})).item<float>()));
}

TEST(AvgPool2d, ValuesAndGradientsMatchReference) {
  for (bool include_pad : {true, false}) {
    for (const auto& [shape, p] : pool_cases()) {
      SCOPED_TRACE(shape_str(shape) + (include_pad ? " count_include_pad" : " exclude_pad"));
      const PoolRef ref = make_ref(shape, p);
      Tensor x = random_tensor(shape, 210, DType::Float64);
      x.set_requires_grad(true);
      Tensor y = avg_pool2d(x, p, include_pad);
      ASSERT_EQ(y.sizes(), ref.out());
      const auto xv = to_vector<double>(x);
      const Tensor g = random_tensor(y.sizes(), 211, DType::Float64);
      const auto gv = to_vector<double>(g);
      std::vector<double> expect(y.numel()), gx(x.numel(), 0.0);
      ref.windows([&](int64_t o, const std::vector<int64_t>& inside, int64_t padded_count) {
        const double divisor = include_pad ? padded_count : static_cast<double>(inside.size());
        double total = 0.0;
        for (int64_t i : inside) total += xv[i];
        expect[o] = total / divisor;
        for (int64_t i : inside) gx[i] += gv[o] / divisor;
      });
      EXPECT_TRUE(all_close(y, expect, 1e-14, 1e-14));
      y.backward(g);
      EXPECT_TRUE(all_close(x.grad(), gx, 1e-14, 1e-14));
    }
  }
}

TEST(GlobalAvgPool2d, MeanOverPlanes) {
  Tensor x = random_tensor({3, 5, 7, 6}, 220, DType::Float64);
  x.set_requires_grad(true);
  Tensor y = global_avg_pool2d(x);
  ASSERT_EQ(y.sizes(), (Shape{3, 5, 1, 1}));
  const auto xv = to_vector<double>(x);
  std::vector<double> expect(15, 0.0);
  for (size_t i = 0; i < xv.size(); ++i) expect[i / 42] += xv[i] / 42.0;
  EXPECT_TRUE(all_close(y, expect, 1e-14, 1e-14));
  const Tensor g = random_tensor(y.sizes(), 221, DType::Float64);
  y.backward(g);
  const auto gv = to_vector<double>(g);
  std::vector<double> gx(xv.size());
  for (size_t i = 0; i < gx.size(); ++i) gx[i] = gv[i / 42] / 42.0;
  EXPECT_TRUE(all_close(x.grad(), gx, 1e-15, 1e-15));
}

TEST(Pool2d, NonContiguousInput) {
  const Tensor x = random_tensor({2, 6, 7, 3}, 230).permute({0, 3, 1, 2});  // [2, 3, 6, 7]
  const Pool2dParams p = pool({3, 3}, {2, 2}, {1, 1}, true);
  EXPECT_TRUE(all_close(max_pool2d(x, p), max_pool2d(x.contiguous(), p), 0.0, 0.0));
  EXPECT_TRUE(all_close(avg_pool2d(x, p), avg_pool2d(x.contiguous(), p), 1e-7, 1e-7));
  EXPECT_TRUE(all_close(global_avg_pool2d(x), global_avg_pool2d(x.contiguous()), 1e-7, 1e-7));
}

TEST(Pool2d, OutputSizeFormulaMatchesDefinition) {
  for (int64_t in = 1; in <= 12; ++in)
    for (int64_t k = 1; k <= 4; ++k)
      for (int64_t s = 1; s <= 3; ++s)
        for (int64_t pad = 0; pad <= k / 2; ++pad)
          for (bool ceil_mode : {false, true}) {
            if (in + 2 * pad < k) continue;  // rejected by the op before the formula matters
            const int64_t expect = ref_out_size(in, k, s, pad, ceil_mode);
            EXPECT_EQ(pool_output_size(in, k, s, pad, ceil_mode), expect)
                << "in " << in << " k " << k << " s " << s << " pad " << pad << " ceil " << ceil_mode;
          }
}

// 16-bit: windows are summed in float and rounded once; max is exact.
TEST(Pool2d, HalfAndBFloat16MatchFloat32) {
  const Pool2dParams p = pool({3, 3}, {2, 2}, {1, 1}, true);
  for (const auto& [dtype, tol] : {std::pair{DType::Float16, 1e-3}, std::pair{DType::BFloat16, 8e-3}}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = random_tensor({2, 3, 9, 8}, 240, dtype);
    const Tensor x32 = x.to(DType::Float32);
    EXPECT_TRUE(all_close(max_pool2d(x, p), max_pool2d(x32, p), 0.0, 0.0));
    EXPECT_TRUE(all_close(avg_pool2d(x, p), avg_pool2d(x32, p), tol, tol));
    EXPECT_TRUE(all_close(avg_pool2d(x, p, false), avg_pool2d(x32, p, false), tol, tol));
    EXPECT_TRUE(all_close(global_avg_pool2d(x), global_avg_pool2d(x32), tol, tol));
  }
}

TEST(Pool2dErrors, MessagesNameShapesAndParameters) {
  EXPECT_TRUE(throws_error_with([] { max_pool2d(zeros({3, 8, 8}), pool({2, 2})); }, {"max_pool2d", "[3, 8, 8]"}));
  EXPECT_TRUE(throws_error_with([] { avg_pool2d(zeros({1, 1, 8, 8}), pool({3, 3}, {1, 1}, {2, 2})); },
                                {"avg_pool2d", "padding", "kernel [3, 3]", "padding [2, 2]"}));
  EXPECT_TRUE(throws_error_with([] { max_pool2d(zeros({1, 2, 2, 5}), pool({3, 3})); },
                                {"max_pool2d", "[1, 2, 2, 5]", "too small", "kernel [3, 3]"}));
  EXPECT_TRUE(throws_error_with([] { max_pool2d(zeros({1, 2, 8, 8}), pool({0, 2})); }, {"max_pool2d", "kernel [0, 2]"}));
  EXPECT_TRUE(throws_error_with([] { global_avg_pool2d(zeros({2, 8})); }, {"global_avg_pool2d", "[2, 8]"}));
  EXPECT_TRUE(throws_error_with([] { max_pool2d(zeros({1, 1, 4, 4}, DType::Int64), pool({2, 2})); },
                                {"max_pool2d", "int64[1, 1, 4, 4]"}));
}

}  // namespace
}  // namespace ff
