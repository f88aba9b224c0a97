// concat, stack and split: values against index arithmetic, dtypes, non-contiguous inputs,
// views, gradients through backward(), and error messages.
#include "ops/shape/shape.h"

#include <gtest/gtest.h>

#include "framework/autograd/autograd.h"
#include "ops/elementwise/binary.h"
#include "ops/reduce/reduce.h"
#include "tests/index_shape/test_util.h"

namespace ff {
namespace {

using testing::expect_error_with;
using testing::random_tensor;
using testing::ravel;
using testing::unravel;

// Naive concat: walks every output element and finds which input (and where) it comes from.
std::vector<double> naive_concat(const std::vector<Tensor>& ts, int64_t dim) {
  std::vector<std::vector<double>> vals;
  Shape out_shape = ts[0].sizes();
  out_shape[dim] = 0;
  for (const auto& t : ts) {
    vals.push_back(to_vector<double>(t));
    out_shape[dim] += t.size(dim);
  }
  std::vector<double> out(static_cast<size_t>(shape_numel(out_shape)));
  for (int64_t i = 0; i < shape_numel(out_shape); ++i) {
    std::vector<int64_t> idx = unravel(i, out_shape);
    size_t which = 0;
    while (idx[dim] >= ts[which].size(dim)) idx[dim] -= ts[which++].size(dim);
    out[i] = vals[which][ravel(idx, ts[which].sizes())];
  }
  return out;
}

TEST(Concat, MatchesNaiveAlongEveryDim) {
  for (int64_t dim : {0, 1, 2, -1, -2}) {
    std::vector<Tensor> ts;
    uint64_t seed = 10;
    for (int64_t len : {2, 1, 3}) {
      Shape s = {3, 5, 2};
      s[dim < 0 ? dim + 3 : dim] = len;
      ts.push_back(random_tensor(s, seed++));
    }
    Tensor out = concat(ts, dim);
    Shape expect_shape = {3, 5, 2};
    expect_shape[dim < 0 ? dim + 3 : dim] = 6;
    EXPECT_EQ(out.sizes(), expect_shape) << "dim " << dim;
    EXPECT_TRUE(out.is_contiguous());
    EXPECT_EQ(to_vector<double>(out), naive_concat(ts, dim < 0 ? dim + 3 : dim)) << "dim " << dim;
  }
}

TEST(Concat, HandWrittenValues) {
  Tensor a = tensor_from(std::vector<int64_t>{1, 2, 3, 4}, {2, 2});
  Tensor b = tensor_from(std::vector<int64_t>{5, 6}, {2, 1});
  EXPECT_EQ(to_vector<int64_t>(concat({a, b}, 1)), (std::vector<int64_t>{1, 2, 5, 3, 4, 6}));
  EXPECT_EQ(to_vector<int64_t>(concat({a, b.t()}, 0)), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
}

TEST(Concat, NonContiguousInputs) {
  Tensor base = random_tensor({6, 4}, 1);
  Tensor transposed = base.t();                       // [4, 6], strides [1, 4]
  Tensor stepped = random_tensor({4, 9}, 2).slice(1, 1, 9, 3);  // [4, 3], stride 3
  Tensor expanded = random_tensor({4, 1}, 3).expand({4, 2});   // stride 0
  std::vector<Tensor> ts = {transposed, stepped, expanded, random_tensor({4, 1}, 4)};
  EXPECT_EQ(to_vector<double>(concat(ts, 1)), naive_concat(ts, 1));
  std::vector<Tensor> rows = {transposed.slice(0, 1, 4, 2), random_tensor({6, 5}, 12).slice(1, 0, 5, 2).t()};
  EXPECT_EQ(to_vector<double>(concat(rows, 0)), naive_concat(rows, 0));
}

TEST(Concat, DataMovementDtypesAreExact) {
  const std::vector<Tensor> f = {random_tensor({2, 3}, 5), random_tensor({2, 4}, 6).t().contiguous().t()};
  for (DType t : {DType::Float16, DType::BFloat16, DType::Int32, DType::Int64, DType::UInt8, DType::Bool,
                  DType::Float32}) {
    std::vector<Tensor> ts = {mul(f[0], 7.0).to(t), mul(f[1], 7.0).to(t)};
    ts.push_back(ts[1].t().contiguous().t());  // a strided copy of the second
    Tensor out = concat(ts, -1);
    EXPECT_EQ(out.dtype(), t);
    EXPECT_EQ(to_vector<double>(out), naive_concat(ts, 1)) << dtype_name(t);
  }
}

TEST(Concat, PromotesMixedDtypes) {
  Tensor a = tensor_from(std::vector<int64_t>{1, 2}, {2});
  Tensor b = tensor_from(std::vector<float>{0.5f}, {1});
  Tensor c = tensor_from(std::vector<double>{-1.25}, {1});
  Tensor ab = concat({a, b}, 0);
  EXPECT_EQ(ab.dtype(), DType::Float32);
  EXPECT_EQ(to_vector<double>(ab), (std::vector<double>{1, 2, 0.5}));
  Tensor abc = concat({a, b, c}, 0);
  EXPECT_EQ(abc.dtype(), DType::Float64);
  EXPECT_EQ(to_vector<double>(abc), (std::vector<double>{1, 2, 0.5, -1.25}));
}

TEST(Concat, EmptyInputsAndSingleInput) {
  Tensor a = random_tensor({2, 3}, 7);
  Tensor empty_part = Tensor::empty({2, 0}, DType::Float64);
  Tensor out = concat({empty_part, a, empty_part}, 1);
  EXPECT_EQ(out.sizes(), (Shape{2, 3}));
  EXPECT_EQ(to_vector<double>(out), to_vector<double>(a));
  Tensor copy = concat({a}, 0);
  EXPECT_FALSE(copy.storage() == a.storage()) << "concat of one tensor must still return a new tensor";
  EXPECT_EQ(to_vector<double>(copy), to_vector<double>(a));
  EXPECT_EQ(concat({Tensor::empty({0, 3}, DType::Float64), Tensor::empty({0, 3}, DType::Float64)}, 0).sizes(),
            (Shape{0, 3}));
}

TEST(Concat, GradientsAreSlabsCastBack) {
  Tensor a = random_tensor({2, 2}, 8).set_requires_grad();
  Tensor b = random_tensor({2, 3}, 9, DType::Float32).set_requires_grad();
  Tensor c = random_tensor({2, 1}, 10);  // no grad
  Tensor out = concat({a, b, c}, 1);
  ASSERT_EQ(out.dtype(), DType::Float64);
  Tensor w = random_tensor({2, 6}, 11);
  sum(mul(out, w)).backward();
  EXPECT_EQ(a.grad().dtype(), DType::Float64);
  EXPECT_EQ(b.grad().dtype(), DType::Float32);
  EXPECT_EQ(to_vector<double>(a.grad()), to_vector<double>(w.narrow(1, 0, 2)));
  EXPECT_EQ(to_vector<double>(b.grad()), to_vector<double>(w.narrow(1, 2, 3).to(DType::Float32)));
  EXPECT_FALSE(c.grad().defined());
}

TEST(ConcatErrors, MismatchedShapesNameEachOffenderAndPosition) {
  Tensor a = Tensor::empty({2, 3, 4}, DType::Float32);
  Tensor ok = Tensor::empty({2, 5, 4}, DType::Float32);
  Tensor bad1 = Tensor::empty({2, 3, 5}, DType::Float32);
  Tensor bad2 = Tensor::empty({7, 3, 4}, DType::Float32);
  expect_error_with([&] { concat({a, ok, bad1, bad2}, 1); },
                    {"concat", "dim 1", "tensor 0 (float32[2, 3, 4]", "tensor 2 float32[2, 3, 5]",
                     "tensor 3 float32[7, 3, 4]"});
  expect_error_with([&] { concat({a, Tensor::empty({2, 3}, DType::Float32)}, 0); },
                    {"concat", "3 dims", "tensor 1 float32[2, 3]"});
  expect_error_with([&] { concat({}, 0); }, {"concat", "at least one tensor"});
  expect_error_with([&] { concat({a, Tensor()}, 0); }, {"concat", "tensor 1", "undefined"});
  expect_error_with([&] { concat({Tensor::empty({}, DType::Float32)}, 0); }, {"concat", "zero-dimensional"});
  expect_error_with([&] { concat({a, a}, 3); }, {"concat", "dim 3", "out of range"});
}

TEST(Stack, MatchesUnsqueezeConcat) {
  std::vector<Tensor> ts = {random_tensor({3, 2}, 20), random_tensor({3, 2}, 21).t().contiguous().t(),
                            random_tensor({2, 3}, 22).t()};
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    Tensor out = stack(ts, dim);
    const int64_t d = dim < 0 ? dim + 3 : dim;
    std::vector<Tensor> parts;
    for (const auto& t : ts) parts.push_back(t.unsqueeze(d));
    Shape expect_shape = {3, 2};
    expect_shape.insert(expect_shape.begin() + d, 3);
    EXPECT_EQ(out.sizes(), expect_shape) << dim;
    EXPECT_EQ(to_vector<double>(out), naive_concat(parts, d)) << dim;
    for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(to_vector<double>(out.select(d, i)), to_vector<double>(ts[i]));
  }
  // Scalars stack into a vector; int dtypes move exactly.
  Tensor s = stack({full({}, 3.0, DType::Int32), full({}, -4.0, DType::Int32)}, 0);
  EXPECT_EQ(s.sizes(), Shape{2});
  EXPECT_EQ(to_vector<int64_t>(s), (std::vector<int64_t>{3, -4}));
}

TEST(Stack, Errors) {
  Tensor a = Tensor::empty({2, 3}, DType::Float32);
  expect_error_with([&] { stack({a, a, Tensor::empty({3, 2}, DType::Float32)}, 0); },
                    {"stack", "tensor 0 (float32[2, 3]", "tensor 2 float32[3, 2]"});
  expect_error_with([&] { stack({}, 0); }, {"stack", "at least one"});
  expect_error_with([&] { stack({a}, 3); }, {"stack", "dim 3"});
}

TEST(Split, BySizeGivesViews) {
  Tensor x = random_tensor({7, 4}, 30);
  std::vector<Tensor> parts = split(x, 3, 0);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].sizes(), (Shape{3, 4}));
  EXPECT_EQ(parts[1].sizes(), (Shape{3, 4}));
  EXPECT_EQ(parts[2].sizes(), (Shape{1, 4}));
  for (const auto& p : parts) EXPECT_TRUE(p.storage() == x.storage()) << "split must return views";
  EXPECT_EQ(to_vector<double>(parts[1]), to_vector<double>(x.narrow(0, 3, 3)));
  EXPECT_EQ(to_vector<double>(concat(parts, 0)), to_vector<double>(x));
  // Along the last dim of a transposed tensor.
  std::vector<Tensor> cols = split(x.t(), 2, -1);
  ASSERT_EQ(cols.size(), 4u);
  EXPECT_EQ(cols[3].sizes(), (Shape{4, 1}));
  EXPECT_EQ(to_vector<double>(cols[3]), to_vector<double>(x.t().narrow(1, 6, 1)));
  // A size that covers the whole dim gives one chunk; an empty dim one empty chunk.
  EXPECT_EQ(split(x, 100, 1).size(), 1u);
  auto empty_parts = split(Tensor::empty({0, 2}, DType::Float32), 3, 0);
  ASSERT_EQ(empty_parts.size(), 1u);
  EXPECT_EQ(empty_parts[0].sizes(), (Shape{0, 2}));
}

TEST(Split, BySizes) {
  Tensor x = arange(24).reshape({2, 12});
  std::vector<Tensor> parts = split(x, std::vector<int64_t>{5, 0, 7}, 1);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].sizes(), (Shape{2, 5}));
  EXPECT_EQ(parts[1].sizes(), (Shape{2, 0}));
  EXPECT_EQ(to_vector<int64_t>(parts[2]), (std::vector<int64_t>{5, 6, 7, 8, 9, 10, 11, 17, 18, 19, 20, 21, 22, 23}));
}

TEST(Split, UnusedChunksGetZeroGradient) {
  Tensor x = random_tensor({5, 3}, 31).set_requires_grad();
  std::vector<Tensor> parts = split(x, std::vector<int64_t>{2, 1, 2}, 0);
  sum(mul(parts[2], 3.0)).backward();  // parts 0 and 1 unused
  std::vector<double> expect(15, 0.0);
  for (int i = 9; i < 15; ++i) expect[i] = 3.0;
  EXPECT_EQ(to_vector<double>(x.grad()), expect);
}

TEST(Split, Errors) {
  Tensor x = Tensor::empty({4, 6}, DType::Float32);
  expect_error_with([&] { split(x, std::vector<int64_t>{2, 3}, 1); },
                    {"split", "[2, 3]", "sum to 5", "float32[4, 6]", "size 6"});
  expect_error_with([&] { split(x, std::vector<int64_t>{7, -1}, 0); }, {"split", "negative size -1"});
  expect_error_with([&] { split(x, 0, 0); }, {"split", "split_size", "0"});
  expect_error_with([&] { split(x, 2, 2); }, {"split", "dim 2"});
  expect_error_with([&] { split(Tensor::empty({}, DType::Float32), 1, 0); }, {"split", "zero-dimensional"});
}

}  // namespace
}  // namespace ff
