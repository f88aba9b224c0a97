// Gradient checks for concat, stack, split, index_select, gather and scatter_add: odd shapes,
// several dims (negative too), duplicate indices and non-contiguous inputs, in float64.
#include "ops/elementwise/binary.h"
#include "ops/index/index.h"
#include "ops/shape/shape.h"
#include "ops/tensor_ops/fill.h"
#include "tests/common/gradcheck_registry.h"

namespace ff {
namespace {

using testing::leaf;
using V = std::vector<Tensor>;

Tensor index_of(const std::vector<int64_t>& v, const Shape& shape) { return tensor_from(v, shape); }

FF_GRADCHECK_TEST(concat, dims_and_strides) {
  Tensor a = leaf({2, 3, 4}, 1), b = leaf({2, 1, 4}, 2), c = leaf({2, 5, 4}, 3);
  for (int64_t dim : {1, -2}) {
    EXPECT_GRADCHECK("concat", [dim](const V& in) { return V{concat({in[0], in[1], in[2]}, dim)}; }, {a, b, c});
  }
  // Along dims 0 and 2, with a transposed input and a strided slice.
  Tensor d = leaf({3, 2, 4}, 4), e = leaf({2, 3, 7}, 5);
  EXPECT_GRADCHECK("concat", [](const V& in) { return V{concat({in[0], in[1].transpose(0, 1)}, 0)}; }, {a, d});
  EXPECT_GRADCHECK("concat", [](const V& in) { return V{concat({in[0], in[1].slice(2, 0, 7, 3), in[0]}, -1)}; },
                   {a, e});
}

FF_GRADCHECK_TEST(concat, mixed_with_constant) {
  // Only some inputs require grad; the constant one is float32 and promoted.
  Tensor a = leaf({3, 2}, 6);
  Tensor constant = full({3, 5}, 0.25, DType::Float32);
  EXPECT_GRADCHECK("concat", [&](const V& in) { return V{concat({constant, in[0]}, 1)}; }, {a});
}

FF_GRADCHECK_TEST(stack, dims) {
  Tensor a = leaf({3, 5}, 7), b = leaf({3, 5}, 8), c = leaf({5, 3}, 9);
  for (int64_t dim : {0, 1, 2, -1}) {
    EXPECT_GRADCHECK("stack", [dim](const V& in) { return V{stack({in[0], in[1], in[2].t()}, dim)}; }, {a, b, c});
  }
  // The same tensor twice: its gradient is the sum of both slots.
  EXPECT_GRADCHECK("stack", [](const V& in) { return V{stack({in[0], in[0].slice(1, 0, 5)}, 1)}; }, {a});
}

FF_GRADCHECK_TEST(split, sizes_and_unused_chunks) {
  Tensor x = leaf({7, 3, 2}, 10);
  // All chunks used, as several outputs.
  EXPECT_GRADCHECK("split", [](const V& in) { return split(in[0], 3, 0); }, {x});
  EXPECT_GRADCHECK("split", [](const V& in) { return split(in[0], std::vector<int64_t>{1, 0, 2}, -2); }, {x});
  // Only the middle chunk used: the others' gradients arrive as zeros.
  EXPECT_GRADCHECK("split", [](const V& in) { return V{mul(split(in[0], 2, 0)[1], 3.0)}; }, {x});
  // A non-contiguous input.
  EXPECT_GRADCHECK("split", [](const V& in) { return split(in[0].transpose(0, 2), 4, 2); }, {x});
}

FF_GRADCHECK_TEST(index_select, duplicates_and_dims) {
  Tensor x = leaf({5, 4, 3}, 11);
  Tensor dup = index_of({3, 0, 3, 3, 1}, {5});
  EXPECT_GRADCHECK("index_select", [&](const V& in) { return V{index_select(in[0], 0, dup)}; }, {x});
  Tensor dup_small = index_of({2, 2, 0}, {3});
  for (int64_t dim : {1, -1}) {
    EXPECT_GRADCHECK("index_select", [&, dim](const V& in) { return V{index_select(in[0], dim, dup_small)}; }, {x});
  }
  // Transposed input, int32 strided index.
  Tensor idx32 = index_of({1, 9, 4, 9, 1, 9}, {6}).to(DType::Int32).slice(0, 0, 6, 2);  // {1, 4, 1}
  EXPECT_GRADCHECK("index_select", [&](const V& in) { return V{index_select(in[0].transpose(0, 2), 2, idx32)}; },
                   {x});
}

FF_GRADCHECK_TEST(gather, duplicates_and_dims) {
  Tensor x = leaf({4, 5, 3}, 12);
  // dim 1, index larger than x along dim and smaller elsewhere, with repeats.
  Tensor idx1 = index_of({0, 4, 4, 1, 2, 2, 3, 0, 0, 4, 1, 1, 3, 3, 3, 2, 2, 2, 0, 1, 4, 4, 0, 0}, {2, 6, 2});
  EXPECT_GRADCHECK("gather", [&](const V& in) { return V{gather(in[0], 1, idx1)}; }, {x});
  Tensor idx0 = index_of({3, 3, 0, 1, 3, 2, 0, 0, 0, 1, 1, 1}, {2, 2, 3});
  EXPECT_GRADCHECK("gather", [&](const V& in) { return V{gather(in[0], 0, idx0)}; }, {x});
  Tensor idx_last = index_of({2, 2, 2, 0, 1, 0, 0, 2}, {2, 1, 4});
  EXPECT_GRADCHECK("gather", [&](const V& in) { return V{gather(in[0], -1, idx_last)}; }, {x});
  // Non-contiguous x (permuted) and a transposed int32 index.
  Tensor idx_t = index_of({1, 0, 3, 3, 2, 1}, {2, 3}).to(DType::Int32).t();  // [3, 2]
  EXPECT_GRADCHECK("gather", [&](const V& in) { return V{gather(in[0].permute({2, 0, 1}).select(2, 1), 1, idx_t)}; },
                   {x});
}

FF_GRADCHECK_TEST(scatter_add, both_inputs_with_duplicates) {
  Tensor x = leaf({3, 4, 2}, 13);
  Tensor src = leaf({3, 6, 2}, 14);
  // dim 1: six sources into four slots per row, repeats guaranteed.
  std::vector<int64_t> iv;
  for (int i = 0; i < 36; ++i) iv.push_back((i * 7 + i / 5) % 4);
  Tensor idx = index_of(iv, {3, 6, 2});
  EXPECT_GRADCHECK("scatter_add", [&](const V& in) { return V{scatter_add(in[0], 1, idx, in[1])}; }, {x, src});
  EXPECT_GRADCHECK("scatter_add", [&](const V& in) { return V{scatter_add(in[0], -2, idx, in[1])}; }, {x, src});
  // dim 0 with a smaller index block, only src differentiable.
  Tensor idx0 = index_of({2, 2, 0, 2, 1, 1, 2, 2}, {4, 1, 2});
  Tensor src0 = leaf({4, 1, 2}, 15);
  Tensor x_const = full({3, 4, 2}, 1.5, DType::Float64);
  EXPECT_GRADCHECK("scatter_add", [&](const V& in) { return V{scatter_add(x_const, 0, idx0, in[0])}; }, {src0});
  // Non-contiguous x and src (transposed / sliced).
  Tensor xt = leaf({2, 4, 3}, 16);
  Tensor src_wide = leaf({3, 6, 4}, 17);
  EXPECT_GRADCHECK("scatter_add",
                   [&](const V& in) { return V{scatter_add(in[0].transpose(0, 2), 1, idx, in[1].slice(2, 0, 4, 2))}; },
                   {xt, src_wide});
}

}  // namespace
}  // namespace ff
