// matmul and linear: values against naive loops (odd shapes, batch broadcasting, NumPy 1-D rules,
// transposed / sliced / expanded operands), 16-bit dtypes against float32, and error messages.
#include "ops/linalg/matmul.h"

#include "framework/autograd/autograd.h"
#include "ops/reduce/reduce.h"
#include "tests/linalg_conv/linalg_conv_test_util.h"

namespace ff {
namespace {

using testing::all_close;
using testing::matmul_ref;
using testing::random_tensor;
using testing::throws_error_with;

constexpr double kF32Atol = 1e-5, kF32Rtol = 1e-5;

// Reference for rank >= 2 operands: broadcast batch dims by index arithmetic.
std::vector<double> batched_ref(const Tensor& a, const Tensor& b, const Shape& out_shape) {
  const std::vector<double> av = to_vector<double>(a), bv = to_vector<double>(b);
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  const Shape batch(out_shape.begin(), out_shape.end() - 2);
  const int64_t entries = shape_numel(batch);
  std::vector<double> out;
  // Linear index of a batch entry inside an operand with (right-aligned, size-1-broadcast) batch dims.
  auto operand_entry = [&](const Tensor& t, int64_t e) {
    const int64_t tb = t.dim() - 2;
    int64_t idx = 0, mul = 1;
    for (int64_t d = static_cast<int64_t>(batch.size()) - 1, rem = e; d >= 0; --d) {
      const int64_t coord = rem % batch[d];
      rem /= batch[d];
      const int64_t td = d - (static_cast<int64_t>(batch.size()) - tb);
      if (td < 0) continue;
      const int64_t size = t.size(td);
      idx += (size == 1 ? 0 : coord) * mul;
      mul *= size;
    }
    return idx;
  };
  for (int64_t e = 0; e < entries; ++e) {
    const int64_t ea = operand_entry(a, e), eb = operand_entry(b, e);
    std::vector<double> am(av.begin() + ea * m * k, av.begin() + (ea + 1) * m * k);
    std::vector<double> bm(bv.begin() + eb * k * n, bv.begin() + (eb + 1) * k * n);
    const auto c = matmul_ref(am, bm, m, k, n);
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

void check_batched(const Shape& sa, const Shape& sb, const Shape& expected_shape, uint64_t seed) {
  SCOPED_TRACE(shape_str(sa) + " @ " + shape_str(sb));
  const Tensor a = random_tensor(sa, seed), b = random_tensor(sb, seed + 1);
  const Tensor c = matmul(a, b);
  ASSERT_EQ(c.sizes(), expected_shape);
  EXPECT_TRUE(all_close(c, batched_ref(a, b, expected_shape), kF32Atol, kF32Rtol));
}

TEST(Matmul, OddShapes) {
  check_batched({3, 5}, {5, 7}, {3, 7}, 1);
  check_batched({1, 1}, {1, 1}, {1, 1}, 2);
  check_batched({7, 1}, {1, 3}, {7, 3}, 3);  // outer product through a K = 1 GEMM
  check_batched({65, 33}, {33, 17}, {65, 17}, 4);
}

TEST(Matmul, BatchBroadcasting) {
  check_batched({2, 3, 5}, {2, 5, 7}, {2, 3, 7}, 10);        // plain batch
  check_batched({4, 3, 5}, {5, 7}, {4, 3, 7}, 11);           // shared b: folds into one GEMM
  check_batched({3, 5}, {4, 5, 7}, {4, 3, 7}, 12);           // shared a
  check_batched({2, 1, 3, 5}, {4, 5, 7}, {2, 4, 3, 7}, 13);  // no single batch stride: per-entry GEMMs
  check_batched({1, 3, 5}, {2, 3, 5, 2}, {2, 3, 3, 2}, 14);
  check_batched({2, 3, 1, 3, 5}, {3, 4, 5, 2}, {2, 3, 4, 3, 2}, 15);
}

TEST(Matmul, OneDimensionalRules) {
  const Tensor v5 = random_tensor({5}, 20), m57 = random_tensor({5, 7}, 21), m35 = random_tensor({3, 5}, 22);
  const Tensor b257 = random_tensor({2, 5, 7}, 23), b235 = random_tensor({2, 3, 5}, 24);
  const Tensor w5 = random_tensor({5}, 25);
  const auto vv = to_vector<double>(v5), wv = to_vector<double>(w5);

  const Tensor dot = matmul(v5, w5);  // [5] @ [5] -> []
  ASSERT_EQ(dot.dim(), 0);
  double expect = 0.0;
  for (int i = 0; i < 5; ++i) expect += vv[i] * wv[i];
  EXPECT_NEAR(dot.item<double>(), expect, 1e-5);

  const Tensor vm = matmul(v5, m57);  // [5] @ [5, 7] -> [7]
  ASSERT_EQ(vm.sizes(), (Shape{7}));
  EXPECT_TRUE(all_close(vm, matmul_ref(vv, to_vector<double>(m57), 1, 5, 7), kF32Atol, kF32Rtol));

  const Tensor mv = matmul(m35, w5);  // [3, 5] @ [5] -> [3]
  ASSERT_EQ(mv.sizes(), (Shape{3}));
  EXPECT_TRUE(all_close(mv, matmul_ref(to_vector<double>(m35), wv, 3, 5, 1), kF32Atol, kF32Rtol));

  const Tensor vb = matmul(v5, b257);  // [5] @ [2, 5, 7] -> [2, 7]
  ASSERT_EQ(vb.sizes(), (Shape{2, 7}));
  EXPECT_TRUE(all_close(vb, batched_ref(v5.unsqueeze(0), b257, {2, 1, 7}), kF32Atol, kF32Rtol));

  const Tensor bv = matmul(b235, w5);  // [2, 3, 5] @ [5] -> [2, 3]
  ASSERT_EQ(bv.sizes(), (Shape{2, 3}));
  EXPECT_TRUE(all_close(bv, batched_ref(b235, w5.unsqueeze(1), {2, 3, 1}), kF32Atol, kF32Rtol));
}

TEST(Matmul, NonContiguousOperands) {
  // Plain transposes reach BLAS as transpose flags; strided slices and permuted batches are copied.
  const Tensor at = random_tensor({5, 3}, 30).t();                      // [3, 5], column-major
  const Tensor bt = random_tensor({7, 5}, 31).t();                      // [5, 7], column-major
  const Tensor sliced = random_tensor({5, 14}, 32).slice(1, 0, 14, 2);  // [5, 7], column stride 2
  const Tensor wide = random_tensor({3, 9}, 33).slice(1, 2, 7);         // [3, 5], row stride 9
  const Tensor perm = random_tensor({5, 2, 3}, 34).permute({1, 2, 0});  // [2, 3, 5], batch stride 3
  const Tensor bperm = random_tensor({5, 2, 7}, 35).permute({1, 0, 2}); // [2, 5, 7], batch stride 7
  const Tensor expanded = random_tensor({1, 5, 7}, 36).expand({4, 5, 7});
  const Tensor row_bcast = random_tensor({1, 7}, 37).expand({5, 7});    // row stride 0

  for (const auto& [a, b] : std::vector<std::pair<Tensor, Tensor>>{{at, bt},
                                                                   {at, sliced},
                                                                   {wide, bt},
                                                                   {perm, bperm},
                                                                   {perm, bt},
                                                                   {random_tensor({4, 3, 5}, 38), expanded},
                                                                   {wide, row_bcast},
                                                                   {perm.transpose(1, 2).transpose(1, 2), sliced}}) {
    SCOPED_TRACE(a.describe() + " @ " + b.describe());
    Shape out_shape = broadcast_shapes(Shape(a.sizes().begin(), a.sizes().end() - 2),
                                       Shape(b.sizes().begin(), b.sizes().end() - 2), "test");
    out_shape.push_back(a.size(-2));
    out_shape.push_back(b.size(-1));
    const Tensor c = matmul(a, b);
    ASSERT_EQ(c.sizes(), out_shape);
    EXPECT_TRUE(all_close(c, batched_ref(a.contiguous(), b.contiguous(), out_shape), kF32Atol, kF32Rtol));
  }
}

TEST(Matmul, EmptyInnerDimensionGivesZeros) {
  const Tensor c = matmul(zeros({3, 0}), zeros({0, 4}));
  ASSERT_EQ(c.sizes(), (Shape{3, 4}));
  EXPECT_TRUE(all_close(c, std::vector<double>(12, 0.0), 0.0, 0.0));
  EXPECT_EQ(matmul(zeros({0, 3}), zeros({3, 4})).sizes(), (Shape{0, 4}));
}

TEST(Matmul, Float64UsesDgemm) {
  const Tensor a = random_tensor({6, 9}, 40, DType::Float64), b = random_tensor({9, 4}, 41, DType::Float64);
  EXPECT_TRUE(all_close(matmul(a, b), matmul_ref(to_vector<double>(a), to_vector<double>(b), 6, 9, 4), 1e-13, 1e-13));
}

// 16-bit: inputs are rounded to the type, products accumulate in float and the result is rounded
// once. Compared with float32 on the same rounded inputs, the error is the final rounding
// (2^-11 relative for fp16, 2^-8 for bf16) plus float accumulation noise; |values| stay below ~4.
TEST(Matmul, HalfAndBFloat16MatchFloat32) {
  for (const auto& [dtype, atol, rtol] : {std::tuple{DType::Float16, 2e-3, 1e-3}, std::tuple{DType::BFloat16, 2e-2, 8e-3}}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor a = random_tensor({2, 9, 13}, 50).to(dtype), b = random_tensor({13, 6}, 51).to(dtype);
    const Tensor c = matmul(a, b);
    ASSERT_EQ(c.dtype(), dtype);
    EXPECT_TRUE(all_close(c, matmul(a.to(DType::Float32), b.to(DType::Float32)), atol, rtol));
    const Tensor at = random_tensor({13, 9}, 52).to(dtype).t();  // transposed 16-bit operand
    EXPECT_TRUE(all_close(matmul(at, b), matmul(at.to(DType::Float32), b.to(DType::Float32)), atol, rtol));
    const Tensor w = random_tensor({6, 13}, 53).to(dtype), bias = random_tensor({6}, 54).to(dtype);
    EXPECT_TRUE(all_close(linear(a, w, bias), linear(a.to(DType::Float32), w.to(DType::Float32), bias.to(DType::Float32)),
                          atol, rtol));
  }
}

TEST(Linear, MatchesReference) {
  const Tensor x = random_tensor({2, 3, 5}, 60), w = random_tensor({7, 5}, 61), bias = random_tensor({7}, 62);
  const auto wv = to_vector<double>(w), bv = to_vector<double>(bias);
  std::vector<double> wt(35);
  for (int o = 0; o < 7; ++o)
    for (int i = 0; i < 5; ++i) wt[i * 7 + o] = wv[o * 5 + i];
  std::vector<double> expect = matmul_ref(to_vector<double>(x), wt, 6, 5, 7);
  const Tensor no_bias = linear(x, w);
  ASSERT_EQ(no_bias.sizes(), (Shape{2, 3, 7}));
  EXPECT_TRUE(all_close(no_bias, expect, kF32Atol, kF32Rtol));
  for (size_t e = 0; e < expect.size(); ++e) expect[e] += bv[e % 7];
  EXPECT_TRUE(all_close(linear(x, w, bias), expect, kF32Atol, kF32Rtol));

  // Non-contiguous input and weight; a 1-D input.
  const Tensor xt = random_tensor({5, 6}, 63).t();  // [6, 5]
  const Tensor wt_view = random_tensor({5, 7}, 64).t();  // [7, 5]
  EXPECT_TRUE(all_close(linear(xt, wt_view, bias), linear(xt.contiguous(), wt_view.contiguous(), bias), 1e-6, 1e-6));
  const Tensor x1 = random_tensor({5}, 65);
  const Tensor y1 = linear(x1, w, bias);
  ASSERT_EQ(y1.sizes(), (Shape{7}));
  EXPECT_TRUE(all_close(y1, linear(x1.unsqueeze(0), w, bias).squeeze(0), 1e-6, 1e-6));
}

TEST(Matmul, BackwardOfSharedWeightFoldsTheBatch) {
  // x [B, T, K] @ W [K, N]: grad_W = sum over B of x_b^T g_b, computed by the folded GEMM.
  Tensor x = random_tensor({3, 4, 5}, 70), w = random_tensor({5, 6}, 71);
  w.set_requires_grad(true);
  x.set_requires_grad(true);
  Tensor y = matmul(x, w);
  sum(y).backward();
  // dL/dW[k, n] = sum over (b, t) of x[b, t, k]; dL/dx[b, t, k] = sum over n of W[k, n].
  const auto xv = to_vector<double>(x), wv = to_vector<double>(w);
  std::vector<double> gw(30, 0.0), gx(60, 0.0);
  for (int r = 0; r < 12; ++r)
    for (int k = 0; k < 5; ++k)
      for (int n = 0; n < 6; ++n) gw[k * 6 + n] += xv[r * 5 + k], gx[r * 5 + k] += wv[k * 6 + n];
  EXPECT_TRUE(all_close(w.grad(), gw, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(x.grad(), gx, 1e-5, 1e-5));
}

TEST(MatmulErrors, InnerDimensionMismatchNamesShapes) {
  const Tensor a = zeros({3, 5}), b = zeros({4, 2});
  EXPECT_TRUE(throws_error_with([&] { matmul(a, b); }, {"matmul", "[3, 5]", "[4, 2]", "5", "4"}));
  EXPECT_TRUE(throws_error_with([&] { matmul(zeros({3}), zeros({4})); }, {"matmul", "[3]", "[4]"}));
}

TEST(MatmulErrors, BatchMismatchNamesShapes) {
  EXPECT_TRUE(throws_error_with([&] { matmul(zeros({2, 3, 5}), zeros({3, 5, 4})); },
                                {"matmul", "[2, 3, 5]", "[3, 5, 4]", "batch"}));
}

TEST(MatmulErrors, DtypeAndRank) {
  EXPECT_TRUE(throws_error_with([&] { matmul(zeros({2, 2}), zeros({2, 2}, DType::Float64)); },
                                {"matmul", "float32[2, 2]", "float64[2, 2]"}));
  EXPECT_TRUE(throws_error_with([&] { matmul(zeros({}), zeros({2, 2})); }, {"matmul", "float32[]"}));
  EXPECT_TRUE(throws_error_with([&] { matmul(zeros({2, 2}, DType::Int64), zeros({2, 2}, DType::Int64)); },
                                {"matmul", "int64[2, 2]"}));
}

TEST(LinearErrors, ShapesAreNamed) {
  EXPECT_TRUE(throws_error_with([&] { linear(zeros({4, 5}), zeros({7, 6})); }, {"linear", "[4, 5]", "[7, 6]"}));
  EXPECT_TRUE(throws_error_with([&] { linear(zeros({4, 5}), zeros({7, 5, 1})); }, {"linear", "[7, 5, 1]"}));
  EXPECT_TRUE(throws_error_with([&] { linear(zeros({4, 5}), zeros({7, 5}), zeros({6})); },
                                {"linear", "bias", "[6]", "[7, 5]"}));
}

}  // namespace
}  // namespace ff
