// Gradient checks (float64, central differences) for matmul, linear, conv2d and the pools:
// odd shapes, batch broadcasting, NumPy 1-D rules, non-contiguous inputs, every conv kernel path.
// Inputs stay small (numel < ~300 each) to keep the suite fast.
#include "ops/conv/conv2d.h"
#include "ops/linalg/matmul.h"
#include "ops/pool/pool.h"
#include "ops/tensor_ops/fill.h"
#include "tests/common/gradcheck_registry.h"

namespace ff {
namespace {

using testing::leaf;
using V = std::vector<Tensor>;

FF_GRADCHECK_TEST(matmul, shapes_and_broadcasting) {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 5}, {5, 7}},          // odd 2-D
      {{2, 3, 4}, {2, 4, 5}},    // batched
      {{2, 3, 4}, {4, 5}},       // shared b: folded grad_b
      {{3, 4}, {2, 4, 5}},       // shared a: folded grad_a
      {{2, 1, 3, 4}, {3, 4, 2}}, // batch broadcast both ways
      {{1, 3, 4}, {2, 4, 3}},    // size-1 batch dim summed back
      {{5}, {5}},                // dot
      {{4}, {4, 3}},             // vector @ matrix
      {{3, 4}, {4}},             // matrix @ vector
      {{4}, {2, 4, 3}},          // vector @ batch
      {{2, 3, 4}, {4}},          // batch @ vector
  };
  uint64_t seed = 1;
  for (const auto& [sa, sb] : shapes) {
    Tensor a = leaf(sa, seed++), b = leaf(sb, seed++);
    EXPECT_GRADCHECK("matmul", [](const V& in) { return V{matmul(in[0], in[1])}; }, {a, b});
  }
}

FF_GRADCHECK_TEST(matmul, non_contiguous) {
  // a^T is a transposed BLAS operand; b sliced with step 2 needs a copy.
  Tensor a = leaf({4, 3}, 20), b = leaf({4, 10}, 21);
  EXPECT_GRADCHECK("matmul", [](const V& in) { return V{matmul(in[0].t(), in[1].slice(1, 0, 10, 2))}; }, {a, b});
  // Permuted batch dims and a transposed batched operand.
  Tensor c = leaf({4, 2, 3}, 22), d = leaf({2, 5, 4}, 23);
  EXPECT_GRADCHECK("matmul", [](const V& in) { return V{matmul(in[0].permute({1, 2, 0}), in[1].transpose(1, 2))}; },
                   {c, d});
}

FF_GRADCHECK_TEST(linear, shapes) {
  Tensor w = leaf({4, 5}, 30), bias = leaf({4}, 31);
  for (const Shape& xs : std::vector<Shape>{{5}, {3, 5}, {2, 3, 5}}) {
    Tensor x = leaf(xs, 32);
    EXPECT_GRADCHECK("linear", [](const V& in) { return V{linear(in[0], in[1], in[2])}; }, {x, w, bias});
    EXPECT_GRADCHECK("linear", [](const V& in) { return V{linear(in[0], in[1])}; }, {x, w});
  }
  // Non-contiguous input and weight.
  Tensor xt = leaf({5, 6}, 33), wt = leaf({5, 4}, 34);
  EXPECT_GRADCHECK("linear", [](const V& in) { return V{linear(in[0].t(), in[1].t(), in[2])}; }, {xt, wt, bias});
}

struct ConvGradCase {
  Shape x, w;
  std::array<int64_t, 2> stride, padding, dilation;
  int64_t groups;
  bool bias;
};

FF_GRADCHECK_TEST(conv2d, paths) {
  const std::vector<ConvGradCase> cases = {
      {{2, 2, 5, 6}, {3, 2, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1, true},   // chunked im2col, odd sizes
      {{1, 3, 7, 5}, {2, 3, 3, 2}, {2, 1}, {1, 0}, {1, 1}, 1, false},  // stride 2, asymmetric kernel
      {{1, 2, 7, 7}, {2, 2, 3, 3}, {1, 2}, {2, 1}, {2, 2}, 1, true},   // dilation 2
      {{1, 4, 5, 5}, {4, 2, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 2, true},   // groups 2, direct loop
      {{1, 10, 4, 4}, {4, 5, 2, 2}, {1, 1}, {0, 0}, {1, 1}, 2, false}, // groups 2, per-group GEMM
      {{2, 3, 6, 6}, {3, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, 3, true},   // depthwise, stride 2
      {{1, 2, 5, 5}, {4, 1, 3, 3}, {1, 1}, {2, 2}, {2, 2}, 2, false},  // depthwise x2 multiplier, dilated
      {{1, 3, 5, 5}, {3, 1, 5, 5}, {1, 1}, {1, 1}, {1, 1}, 3, true},   // output smaller than the kernel
      {{2, 4, 4, 5}, {3, 4, 1, 1}, {1, 1}, {0, 0}, {1, 1}, 1, true},   // pointwise
      {{1, 4, 5, 5}, {2, 4, 1, 1}, {2, 2}, {0, 0}, {1, 1}, 1, false},  // 1x1 stride-2 downsample
  };
  uint64_t seed = 40;
  for (const auto& c : cases) {
    Conv2dParams p;
    p.stride = c.stride, p.padding = c.padding, p.dilation = c.dilation, p.groups = c.groups;
    Tensor x = leaf(c.x, seed++), w = leaf(c.w, seed++);
    if (c.bias) {
      Tensor b = leaf({c.w[0]}, seed++);
      EXPECT_GRADCHECK("conv2d", [p](const V& in) { return V{conv2d(in[0], in[1], in[2], p)}; }, {x, w, b});
    } else {
      EXPECT_GRADCHECK("conv2d", [p](const V& in) { return V{conv2d(in[0], in[1], Tensor(), p)}; }, {x, w});
    }
  }
}

FF_GRADCHECK_TEST(conv2d, non_contiguous) {
  Conv2dParams p;
  p.padding = {1, 1};
  Tensor x_nhwc = leaf({1, 5, 4, 3}, 60), w = leaf({6, 3, 3, 3}, 61);
  EXPECT_GRADCHECK("conv2d",
                   [p](const V& in) { return V{conv2d(in[0].permute({0, 3, 1, 2}), in[1].slice(0, 0, 6, 2), Tensor(), p)}; },
                   {x_nhwc, w});
}

// Max pool: leaves are a shuffled ramp (distinct values more than 2 eps apart), so no window has
// a tie and the perturbation never changes the argmax.
Tensor distinct_leaf(const Shape& shape, uint64_t seed) {
  const int64_t n = shape_numel(shape);
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = static_cast<double>((i * 37 + static_cast<int64_t>(seed)) % n) / n;
  Tensor t = tensor_from(values, shape);
  t.set_requires_grad(true);
  return t;
}

Pool2dParams pool(std::array<int64_t, 2> k, std::array<int64_t, 2> s, std::array<int64_t, 2> pad, bool ceil_mode) {
  Pool2dParams p;
  p.kernel = k, p.stride = s, p.padding = pad, p.ceil_mode = ceil_mode;
  return p;
}

const std::vector<std::pair<Shape, Pool2dParams>>& pool_grad_cases() {
  static const std::vector<std::pair<Shape, Pool2dParams>> cases = {
      {{2, 3, 5, 7}, pool({2, 2}, {0, 0}, {0, 0}, false)},
      {{1, 2, 7, 6}, pool({3, 3}, {2, 2}, {1, 1}, false)},
      {{1, 2, 8, 7}, pool({3, 2}, {2, 1}, {1, 1}, true)},
      {{2, 1, 5, 5}, pool({2, 2}, {2, 2}, {1, 1}, true)},
  };
  return cases;
}

FF_GRADCHECK_TEST(max_pool2d, shapes) {
  uint64_t seed = 70;
  for (const auto& [shape, p] : pool_grad_cases()) {
    Tensor x = distinct_leaf(shape, seed++);
    const Pool2dParams params = p;
    EXPECT_GRADCHECK("max_pool2d", [params](const V& in) { return V{max_pool2d(in[0], params)}; }, {x});
  }
  Tensor nhwc = distinct_leaf({1, 6, 5, 3}, 80);
  EXPECT_GRADCHECK("max_pool2d",
                   [](const V& in) { return V{max_pool2d(in[0].permute({0, 3, 1, 2}), pool({2, 2}, {1, 1}, {1, 1}, false))}; },
                   {nhwc});
}

FF_GRADCHECK_TEST(avg_pool2d, shapes) {
  uint64_t seed = 90;
  for (bool include_pad : {true, false}) {
    for (const auto& [shape, p] : pool_grad_cases()) {
      Tensor x = leaf(shape, seed++);
      const Pool2dParams params = p;
      EXPECT_GRADCHECK("avg_pool2d", [params, include_pad](const V& in) { return V{avg_pool2d(in[0], params, include_pad)}; },
                       {x});
    }
  }
  Tensor nhwc = leaf({1, 6, 5, 3}, 99);
  EXPECT_GRADCHECK("avg_pool2d",
                   [](const V& in) { return V{avg_pool2d(in[0].permute({0, 3, 1, 2}), pool({3, 3}, {2, 2}, {1, 1}, true))}; },
                   {nhwc});
}

FF_GRADCHECK_TEST(global_avg_pool2d, shapes) {
  for (const Shape& s : std::vector<Shape>{{2, 3, 5, 7}, {1, 4, 1, 1}, {3, 2, 4, 3}}) {
    Tensor x = leaf(s, 100);
    EXPECT_GRADCHECK("global_avg_pool2d", [](const V& in) { return V{global_avg_pool2d(in[0])}; }, {x});
  }
  Tensor nhwc = leaf({2, 5, 4, 3}, 101);
  EXPECT_GRADCHECK("global_avg_pool2d", [](const V& in) { return V{global_avg_pool2d(in[0].permute({0, 3, 1, 2}))}; },
                   {nhwc});
}

}  // namespace
}  // namespace ff
