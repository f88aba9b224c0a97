// index_select, gather, scatter_add and one_hot: values against naive loops, dtypes,
// non-contiguous inputs, duplicate indices, gradients through backward(), error messages.
#include "ops/index/index.h"

#include <gtest/gtest.h>

#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "ops/elementwise/binary.h"
#include "ops/reduce/reduce.h"
#include "tests/index_shape/test_util.h"

namespace ff {
namespace {

using testing::expect_error_with;
using testing::random_index;
using testing::random_tensor;
using testing::ravel;
using testing::unravel;

std::vector<double> naive_index_select(const Tensor& x, int64_t dim, const std::vector<int64_t>& idx) {
  const std::vector<double> xv = to_vector<double>(x);
  Shape out_shape = x.sizes();
  out_shape[dim] = static_cast<int64_t>(idx.size());
  std::vector<double> out(static_cast<size_t>(shape_numel(out_shape)));
  for (int64_t i = 0; i < shape_numel(out_shape); ++i) {
    std::vector<int64_t> p = unravel(i, out_shape);
    p[dim] = idx[p[dim]];
    out[i] = xv[ravel(p, x.sizes())];
  }
  return out;
}

std::vector<double> naive_gather(const Tensor& x, int64_t dim, const Tensor& index) {
  const std::vector<double> xv = to_vector<double>(x);
  const std::vector<int64_t> iv = to_vector<int64_t>(index);
  std::vector<double> out(iv.size());
  for (int64_t i = 0; i < index.numel(); ++i) {
    std::vector<int64_t> p = unravel(i, index.sizes());
    p[dim] = iv[i];
    out[i] = xv[ravel(p, x.sizes())];
  }
  return out;
}

std::vector<double> naive_scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  std::vector<double> out = to_vector<double>(x);
  const std::vector<int64_t> iv = to_vector<int64_t>(index);
  const std::vector<double> sv = to_vector<double>(src);
  for (int64_t i = 0; i < index.numel(); ++i) {
    std::vector<int64_t> p = unravel(i, index.sizes());
    p[dim] = iv[i];
    out[ravel(p, x.sizes())] += sv[i];
  }
  return out;
}

// ---- index_select ------------------------------------------------------------------------------
TEST(IndexSelect, MatchesNaiveWithDuplicates) {
  Tensor x = random_tensor({4, 5, 3}, 1);
  const std::vector<int64_t> idx = {3, 0, 3, 3, 1, 4};
  for (int64_t dim : {0, 1, 2, -1}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    std::vector<int64_t> in_range;
    for (int64_t i : idx) in_range.push_back(i % x.size(d));
    Tensor index = tensor_from(in_range, {static_cast<int64_t>(in_range.size())});
    Tensor out = index_select(x, dim, index);
    Shape expect_shape = x.sizes();
    expect_shape[d] = 6;
    EXPECT_EQ(out.sizes(), expect_shape);
    EXPECT_EQ(to_vector<double>(out), naive_index_select(x, d, in_range)) << "dim " << dim;
    EXPECT_EQ(to_vector<double>(index_select(x, dim, index.to(DType::Int32))), naive_index_select(x, d, in_range));
  }
}

TEST(IndexSelect, HandWritten) {
  Tensor x = arange(12).reshape({3, 4});
  Tensor idx = tensor_from(std::vector<int64_t>{2, 0}, {2});
  EXPECT_EQ(to_vector<int64_t>(index_select(x, 0, idx)), (std::vector<int64_t>{8, 9, 10, 11, 0, 1, 2, 3}));
  EXPECT_EQ(to_vector<int64_t>(index_select(x, 1, idx)), (std::vector<int64_t>{2, 0, 6, 4, 10, 8}));
}

TEST(IndexSelect, NonContiguousInputsAndIndex) {
  Tensor x = random_tensor({6, 5}, 2).t();  // [5, 6], strides [1, 5]
  Tensor idx_storage = tensor_from(std::vector<int64_t>{4, 9, 0, 9, 2, 9, 4, 9}, {8});
  Tensor idx = idx_storage.slice(0, 0, 8, 2);  // {4, 0, 2, 4}, stride 2
  const std::vector<int64_t> iv = {4, 0, 2, 4};
  EXPECT_EQ(to_vector<double>(index_select(x, 0, idx)), naive_index_select(x.contiguous(), 0, iv));
  EXPECT_EQ(to_vector<double>(index_select(x, 1, idx)), naive_index_select(x.contiguous(), 1, iv));
  Tensor expanded = random_tensor({1, 7}, 3).expand({5, 7});
  EXPECT_EQ(to_vector<double>(index_select(expanded, 1, idx)), naive_index_select(expanded.contiguous(), 1, iv));
}

TEST(IndexSelect, AllDtypesMoveExactly) {
  Tensor base = mul(random_tensor({5, 3}, 4), 9.0);
  Tensor idx = tensor_from(std::vector<int64_t>{1, 1, 4, 0}, {4});
  for (DType t : {DType::Float16, DType::BFloat16, DType::Int32, DType::Int64, DType::UInt8, DType::Bool,
                  DType::Float32}) {
    Tensor x = base.to(t);
    Tensor out = index_select(x, 0, idx);
    EXPECT_EQ(out.dtype(), t);
    EXPECT_EQ(to_vector<double>(out), naive_index_select(x, 0, {1, 1, 4, 0})) << dtype_name(t);
  }
}

TEST(IndexSelect, EmptyIndex) {
  Tensor x = random_tensor({3, 4}, 5);
  Tensor out = index_select(x, 1, Tensor::empty({0}, DType::Int64));
  EXPECT_EQ(out.sizes(), (Shape{3, 0}));
}

TEST(IndexSelect, BackwardAccumulatesDuplicates) {
  Tensor x = random_tensor({4, 2}, 6).set_requires_grad();
  Tensor idx = tensor_from(std::vector<int64_t>{2, 0, 2, 2}, {4});
  sum(index_select(x, 0, idx)).backward();
  EXPECT_EQ(to_vector<double>(x.grad()), (std::vector<double>{1, 1, 0, 0, 3, 3, 0, 0}));
}

// ---- gather -------------------------------------------------------------------------------------
TEST(Gather, MatchesNaiveAlongEveryDim) {
  Tensor x = random_tensor({4, 5, 3}, 7);
  for (int64_t dim : {0, 1, 2, -2}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    Shape index_shape = {3, 4, 2};  // smaller than x outside dim
    index_shape[d] = 7;            // and larger along it
    Tensor index = random_index(index_shape, x.size(d), 100 + d);
    Tensor out = gather(x, dim, index);
    EXPECT_EQ(out.sizes(), index_shape);
    EXPECT_EQ(to_vector<double>(out), naive_gather(x, d, index)) << "dim " << dim;
    EXPECT_EQ(to_vector<double>(gather(x, dim, index.to(DType::Int32))), naive_gather(x, d, index));
  }
}

TEST(Gather, HandWritten) {
  Tensor x = tensor_from(std::vector<int64_t>{1, 2, 3, 4}, {2, 2});
  Tensor idx = tensor_from(std::vector<int64_t>{0, 0, 1, 0}, {2, 2});
  EXPECT_EQ(to_vector<int64_t>(gather(x, 1, idx)), (std::vector<int64_t>{1, 1, 4, 3}));
  EXPECT_EQ(to_vector<int64_t>(gather(x, 0, idx)), (std::vector<int64_t>{1, 2, 3, 2}));
}

TEST(Gather, NonContiguousAndDtypes) {
  Tensor x = random_tensor({5, 6}, 8).t();                       // [6, 5]
  Tensor index = random_index({4, 6}, 6, 9).t().slice(0, 0, 6, 2);  // [3, 4], strided
  EXPECT_EQ(to_vector<double>(gather(x, 0, index)), naive_gather(x.contiguous(), 0, index));
  Tensor labels = random_index({6, 1}, 5, 10);  // one column per row: the ArcFace target logit
  for (DType t : {DType::Float16, DType::BFloat16, DType::Int32, DType::Bool, DType::Float32}) {
    Tensor xt = mul(x, 5.0).to(t);
    EXPECT_EQ(to_vector<double>(gather(xt, 1, labels)), naive_gather(xt.contiguous(), 1, labels)) << dtype_name(t);
  }
}

TEST(Gather, BackwardScattersWithDuplicates) {
  Tensor x = random_tensor({2, 3}, 11).set_requires_grad();
  Tensor idx = tensor_from(std::vector<int64_t>{2, 2, 0, 1, 1, 1, 1}, {1, 7}).expand({2, 7});
  sum(gather(x, 1, idx)).backward();
  EXPECT_EQ(to_vector<double>(x.grad()), (std::vector<double>{1, 4, 2, 1, 4, 2}));
}

// ---- scatter_add -------------------------------------------------------------------------------
TEST(ScatterAdd, MatchesNaiveWithDuplicates) {
  Tensor x = random_tensor({4, 5, 3}, 12);
  for (int64_t dim : {0, 1, 2, -1}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    Shape index_shape = {2, 5, 3};
    index_shape[d] = 9;  // many more sources than slots: duplicates guaranteed
    Tensor index = random_index(index_shape, x.size(d), 200 + d);
    Tensor src = random_tensor(index_shape, 300 + d);
    const std::vector<double> x_before = to_vector<double>(x);
    Tensor out = scatter_add(x, dim, index, src);
    EXPECT_EQ(out.sizes(), x.sizes());
    const std::vector<double> expect = naive_scatter_add(x, d, index, src);
    const std::vector<double> got = to_vector<double>(out);
    for (size_t i = 0; i < expect.size(); ++i) EXPECT_NEAR(got[i], expect[i], 1e-12) << "dim " << dim << " at " << i;
    EXPECT_EQ(to_vector<double>(x), x_before) << "scatter_add is out of place";
  }
}

TEST(ScatterAdd, HandWrittenAndIntegers) {
  Tensor x = tensor_from(std::vector<int64_t>{10, 20, 30}, {3});
  Tensor idx = tensor_from(std::vector<int64_t>{2, 0, 2, 2}, {4});
  Tensor src = tensor_from(std::vector<int64_t>{1, 2, 3, 4}, {4});
  EXPECT_EQ(to_vector<int64_t>(scatter_add(x, 0, idx, src)), (std::vector<int64_t>{12, 20, 38}));
  Tensor x32 = x.to(DType::Int32);
  EXPECT_EQ(to_vector<int64_t>(scatter_add(x32, 0, idx.to(DType::Int32), src.to(DType::Int32))),
            (std::vector<int64_t>{12, 20, 38}));
  Tensor xh = x.to(DType::Float16);
  EXPECT_EQ(to_vector<double>(scatter_add(xh, 0, idx, src.to(DType::Float16))), (std::vector<double>{12, 20, 38}));
}

TEST(ScatterAdd, NonContiguousOperands) {
  Tensor x = random_tensor({5, 4}, 13).t();                          // [4, 5]
  Tensor index = random_index({6, 4}, 5, 14).t();                   // [4, 6] strided, dim 1 exceeds x
  Tensor src = random_tensor({4, 12}, 15).slice(1, 0, 12, 2);        // [4, 6] stride 2
  const std::vector<double> expect = naive_scatter_add(x.contiguous(), 1, index, src);
  const std::vector<double> got = to_vector<double>(scatter_add(x, 1, index, src));
  for (size_t i = 0; i < expect.size(); ++i) EXPECT_NEAR(got[i], expect[i], 1e-12) << i;
}

TEST(ScatterAdd, ManyThreadsManyDuplicatesIsExactAndDeterministic) {
  // Integer sums are exact, so any race or lost update shows up as a mismatch.
  Tensor x = zeros({6, 5000}, DType::Int64);
  Tensor index = random_index({300, 5000}, 6, 16);
  Tensor src = random_index({300, 5000}, 1000, 17);
  const std::vector<double> expect = naive_scatter_add(x, 0, index, src);
  const int threads = get_num_threads();
  set_num_threads(4);
  const std::vector<int64_t> got = to_vector<int64_t>(scatter_add(x, 0, index, src));
  set_num_threads(threads);
  for (size_t i = 0; i < expect.size(); ++i) ASSERT_EQ(static_cast<double>(got[i]), expect[i]) << i;
  // Float results do not depend on the thread count (fixed summation order per slot).
  Tensor xf = zeros({4, 3000}, DType::Float32);
  Tensor idxf = random_index({500, 3000}, 4, 18);
  Tensor srcf = random_tensor({500, 3000}, 19, DType::Float32);
  set_num_threads(1);
  const std::vector<float> serial = to_vector<float>(scatter_add(xf, 0, idxf, srcf));
  set_num_threads(4);
  const std::vector<float> parallel = to_vector<float>(scatter_add(xf, 0, idxf, srcf));
  set_num_threads(threads);
  EXPECT_EQ(serial, parallel);
}

TEST(ScatterAdd, Backward) {
  Tensor x = random_tensor({3, 2}, 20).set_requires_grad();
  Tensor src = random_tensor({4, 2}, 21).set_requires_grad();
  Tensor idx = tensor_from(std::vector<int64_t>{1, 1, 0, 2, 1, 1, 1, 0}, {4, 2});
  Tensor w = random_tensor({3, 2}, 22);
  sum(mul(scatter_add(x, 0, idx, src), w)).backward();
  EXPECT_EQ(to_vector<double>(x.grad()), to_vector<double>(w));
  EXPECT_EQ(to_vector<double>(src.grad()), naive_gather(w, 0, idx));
}

// ---- one_hot -----------------------------------------------------------------------------------
TEST(OneHot, ValuesShapesAndDtypes) {
  Tensor labels = tensor_from(std::vector<int64_t>{2, 0, 4, 4, 1, 3}, {2, 3});
  Tensor out = one_hot(labels, 5);
  EXPECT_EQ(out.sizes(), (Shape{2, 3, 5}));
  EXPECT_EQ(out.dtype(), DType::Float32);
  std::vector<double> expect(30, 0.0);
  const std::vector<int64_t> lv = {2, 0, 4, 4, 1, 3};
  for (size_t i = 0; i < lv.size(); ++i) expect[i * 5 + lv[i]] = 1.0;
  EXPECT_EQ(to_vector<double>(out), expect);
  for (DType t : {DType::Float64, DType::Float16, DType::BFloat16, DType::Int64, DType::UInt8, DType::Bool}) {
    Tensor o = one_hot(labels.to(DType::Int32), 5, t);
    EXPECT_EQ(o.dtype(), t);
    EXPECT_EQ(to_vector<double>(o), expect) << dtype_name(t);
  }
  // Non-contiguous labels (transposed) and a scalar label.
  Tensor lt = labels.t();  // [3, 2]
  const std::vector<int64_t> ltv = to_vector<int64_t>(lt);
  std::vector<double> expect_t(30, 0.0);
  for (size_t i = 0; i < ltv.size(); ++i) expect_t[i * 5 + ltv[i]] = 1.0;
  EXPECT_EQ(to_vector<double>(one_hot(lt, 5)), expect_t);
  Tensor scalar = one_hot(full({}, 1.0, DType::Int64), 3);
  EXPECT_EQ(scalar.sizes(), Shape{3});
  EXPECT_EQ(to_vector<double>(scalar), (std::vector<double>{0, 1, 0}));
  EXPECT_EQ(one_hot(Tensor::empty({0}, DType::Int64), 4).sizes(), (Shape{0, 4}));
}

// ---- errors --------------------------------------------------------------------------------------
TEST(IndexErrors, OutOfRangeNamesValuePositionAndRange) {
  Tensor x = Tensor::empty({5, 3}, DType::Float32);
  Tensor idx = tensor_from(std::vector<int64_t>{0, 4, 5, 7}, {4});
  expect_error_with([&] { index_select(x, 0, idx); },
                    {"index_select", "index 5", "position [2]", "dim 0", "float32[5, 3]", "[0, 5)"});
  Tensor gidx = tensor_from(std::vector<int64_t>{0, 1, 2, 2, 3, 1}, {2, 3});
  expect_error_with([&] { gather(x, 1, gidx); }, {"gather", "index 3", "position [1, 1]", "[0, 3)"});
  expect_error_with([&] { scatter_add(x, 1, gidx, zeros({2, 3})); },
                    {"scatter_add", "index 3", "position [1, 1]", "[0, 3)"});
  expect_error_with([&] { index_select(Tensor::empty({0, 2}), 0, tensor_from(std::vector<int64_t>{0}, {1})); },
                    {"index_select", "index 0", "[0, 0)"});
}

TEST(IndexErrors, NegativeIndicesAreRejected) {
  Tensor x = Tensor::empty({5, 3}, DType::Float32);
  Tensor idx = tensor_from(std::vector<int64_t>{1, -1}, {2});
  expect_error_with([&] { index_select(x, 0, idx); },
                    {"index_select", "index -1", "position [1]", "[0, 5)", "negative indices are not supported"});
  expect_error_with([&] { gather(x, 0, idx.to(DType::Int32).view({2, 1})); },
                    {"gather", "index -1", "position [1, 0]", "negative"});
  expect_error_with([&] { one_hot(idx, 5); }, {"one_hot", "label -1", "negative"});
}

TEST(IndexErrors, WrongIndexDtypeOrShape) {
  Tensor x = Tensor::empty({5, 3}, DType::Float32);
  Tensor fidx = zeros({2}, DType::Float32);
  expect_error_with([&] { index_select(x, 0, fidx); }, {"index_select", "int32 or int64", "float32[2]"});
  expect_error_with([&] { gather(x, 0, zeros({2, 3}, DType::UInt8)); }, {"gather", "int32 or int64", "uint8[2, 3]"});
  expect_error_with([&] { scatter_add(x, 0, zeros({2, 3}), zeros({2, 3})); }, {"scatter_add", "int32 or int64"});
  expect_error_with([&] { one_hot(zeros({3}, DType::Float64), 4); },
                    {"one_hot", "labels", "int32 or int64", "float64[3]"});
  expect_error_with([&] { index_select(x, 0, zeros({2, 1}, DType::Int64)); }, {"index_select", "1-D", "int64[2, 1]"});
  expect_error_with([&] { index_select(x, 2, zeros({2}, DType::Int64)); }, {"index_select", "dim 2"});
  expect_error_with([&] { gather(x, 0, zeros({2}, DType::Int64)); }, {"gather", "int64[2]", "float32[5, 3]", "dims"});
  expect_error_with([&] { gather(x, 0, zeros({2, 4}, DType::Int64)); },
                    {"gather", "int64[2, 4]", "float32[5, 3]", "dim 1", "4 > 3"});
  expect_error_with([&] { scatter_add(x, 0, zeros({2, 3}, DType::Int64), zeros({3, 3})); },
                    {"scatter_add", "src float32[3, 3]", "index int64[2, 3]", "same shape"});
  expect_error_with([&] { scatter_add(x, 0, zeros({2, 3}, DType::Int64), zeros({2, 3}, DType::Float64)); },
                    {"scatter_add", "float64[2, 3]", "dtype", "float32[5, 3]"});
  expect_error_with([&] { gather(Tensor::empty({}), 0, zeros({}, DType::Int64)); }, {"gather", "at least one dim"});
}

TEST(IndexErrors, OneHotLabelTooLargeAndBadNumClasses) {
  Tensor labels = tensor_from(std::vector<int64_t>{0, 3, 9, 2}, {2, 2});
  expect_error_with([&] { one_hot(labels, 4); },
                    {"one_hot", "label 9", "position [1, 0]", "num_classes 4", "[0, 4)"});
  expect_error_with([&] { one_hot(labels, 0); }, {"one_hot", "num_classes must be positive", "0"});
}

}  // namespace
}  // namespace ff
