// The core tensor views (framework/core/tensor.cpp): view vs reshape, slice, select, permute,
// transpose, expand, squeeze/unsqueeze/flatten; contiguous() of each view against index
// arithmetic; dtype conversions (float16/bfloat16 rounding), item() and printing.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

#include "framework/core/tensor.h"
#include "ops/tensor_ops/fill.h"

namespace ff {
namespace {

// Runs f, expects an ff::Error whose message contains every string in `parts`.
void expect_error_with(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an ff::Error mentioning '" << (parts.empty() ? "" : parts[0]) << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
  }
}

std::vector<int64_t> unravel(int64_t linear, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    idx[k] = linear % shape[k];
    linear /= shape[k];
  }
  return idx;
}

int64_t ravel(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t linear = 0;
  for (size_t k = 0; k < shape.size(); ++k) linear = linear * shape[k] + idx[k];
  return linear;
}

// 0, 1, 2, ... as float64 of `shape`: every element's value is its row-major position.
Tensor iota(const Shape& shape) {
  return arange(0.0, static_cast<double>(shape_numel(shape)), 1.0, DType::Float64).reshape(shape);
}

// Checks view.contiguous() element by element: out position p must hold the source element
// source_of(p) of the iota tensor of shape `src_shape`.
void expect_view_values(const Tensor& view, const Shape& src_shape,
                        const std::function<std::vector<int64_t>(const std::vector<int64_t>&)>& source_of) {
  const Tensor c = view.contiguous();
  ASSERT_TRUE(c.is_contiguous());
  const std::vector<double> got = to_vector<double>(c);
  ASSERT_EQ(static_cast<int64_t>(got.size()), view.numel());
  for (int64_t i = 0; i < view.numel(); ++i) {
    const std::vector<int64_t> p = unravel(i, view.sizes());
    ASSERT_EQ(got[i], static_cast<double>(ravel(source_of(p), src_shape)))
        << "view " << view.describe() << " element " << i;
  }
}

// ---- view / reshape ---------------------------------------------------------------------------------
TEST(TensorViews, ViewSharesStorageAndInfersOneDim) {
  Tensor x = iota({2, 3, 4});
  Tensor v = x.view({6, -1});
  EXPECT_EQ(v.sizes(), (Shape{6, 4}));
  EXPECT_EQ(v.strides(), (Strides{4, 1}));
  EXPECT_TRUE(v.storage() == x.storage());
  EXPECT_EQ(to_vector<double>(v), to_vector<double>(x));
  // A non-contiguous tensor can still be viewed when the split dims stay internally contiguous.
  Tensor s = iota({4, 6}).slice(1, 0, 6, 2);  // [4, 3], strides [6, 2]
  Tensor sv = s.view({2, 2, 3});
  EXPECT_EQ(sv.strides(), (Strides{12, 6, 2}));
  expect_view_values(sv, {4, 6}, [](const auto& p) { return std::vector<int64_t>{p[0] * 2 + p[1], p[2] * 2}; });
}

TEST(TensorViews, ViewOfIncompatibleStridesThrowsNamingShapes) {
  Tensor t = iota({2, 3}).t();  // [3, 2], strides [1, 3]
  expect_error_with([&] { t.view({6}); }, {"view", "float64[3, 2]", "strides [1, 3]", "[6]", "reshape"});
  expect_error_with([&] { iota({2, 3}).view({4}); }, {"view", "[2, 3]", "6 elements", "[4]"});
  expect_error_with([&] { iota({2, 3}).view({-1, -1}); }, {"view", "only one dimension can be -1"});
  expect_error_with([&] { iota({2, 3}).reshape({-1, 4}); }, {"reshape", "[2, 3]", "[-1, 4]"});
}

TEST(TensorViews, ReshapeCopiesOnlyWhenItMust) {
  Tensor x = iota({2, 3});
  EXPECT_TRUE(x.reshape({3, 2}).storage() == x.storage());
  Tensor t = x.t();
  Tensor r = t.reshape({6});
  EXPECT_FALSE(r.storage() == x.storage());
  EXPECT_EQ(to_vector<double>(r), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  // Scalars and empty tensors.
  EXPECT_EQ(full({}, 2.0).reshape({1, 1}).sizes(), (Shape{1, 1}));
  EXPECT_EQ(Tensor::empty({0, 4}).reshape({2, 0, 2}).sizes(), (Shape{2, 0, 2}));
  expect_error_with([] { Tensor::empty({0, 4}).reshape({2, 0, -1}); }, {"reshape", "[2, 0, -1]"});  // -1 ambiguous
}

// ---- slice / narrow / select -------------------------------------------------------------------------
TEST(TensorViews, SliceNegativeClampedAndStepped) {
  Tensor x = iota({5, 7});
  Tensor a = x.slice(1, -5, 100, 2);  // start 2, end clamped to 7: columns 2, 4, 6
  EXPECT_EQ(a.sizes(), (Shape{5, 3}));
  EXPECT_EQ(a.strides(), (Strides{7, 2}));
  expect_view_values(a, {5, 7}, [](const auto& p) { return std::vector<int64_t>{p[0], 2 + 2 * p[1]}; });
  Tensor b = x.slice(0, -100, -2, 3);  // start clamped to 0, end 3: rows 0
  EXPECT_EQ(b.sizes(), (Shape{1, 7}));
  Tensor c = x.slice(0, 1, 5, 3);  // rows 1, 4
  expect_view_values(c, {5, 7}, [](const auto& p) { return std::vector<int64_t>{1 + 3 * p[0], p[1]}; });
  EXPECT_EQ(x.slice(1, 5, 2).sizes(), (Shape{5, 0}));  // start past end: empty
  EXPECT_EQ(x.slice(1, 9, 12).sizes(), (Shape{5, 0}));
  // Slice of a slice composes offsets and steps.
  Tensor d = a.slice(0, 1, 5, 2).slice(1, 1, 3);  // rows 1, 3; columns 4, 6
  expect_view_values(d, {5, 7}, [](const auto& p) { return std::vector<int64_t>{1 + 2 * p[0], 4 + 2 * p[1]}; });
  expect_error_with([&] { x.slice(0, 0, 2, 0); }, {"slice", "step must be positive", "0"});
  expect_error_with([&] { x.slice(2, 0, 1); }, {"slice", "dim 2", "2 dims"});
  expect_error_with([&] { x.narrow(1, 5, 3); }, {"narrow", "[5, 8)", "size 7", "float64[5, 7]"});
  expect_view_values(x.narrow(-1, 2, 3), {5, 7}, [](const auto& p) { return std::vector<int64_t>{p[0], p[1] + 2}; });
}

TEST(TensorViews, SelectDropsTheDim) {
  Tensor x = iota({3, 4, 5});
  Tensor s = x.select(1, -1);  // index 3
  EXPECT_EQ(s.sizes(), (Shape{3, 5}));
  expect_view_values(s, {3, 4, 5}, [](const auto& p) { return std::vector<int64_t>{p[0], 3, p[1]}; });
  expect_view_values(x.select(-1, 2), {3, 4, 5}, [](const auto& p) { return std::vector<int64_t>{p[0], p[1], 2}; });
  Tensor scalar = x.select(0, 2).select(0, 1).select(0, 4);
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item<double>(), 2 * 20 + 1 * 5 + 4);
  expect_error_with([&] { x.select(1, 4); }, {"select", "index 4", "size 4", "float64[3, 4, 5]"});
  expect_error_with([&] { x.select(1, -5); }, {"select", "index -5"});
}

TEST(TensorViews, ZeroDimTensorsRejectDimIndexedViews) {
  Tensor s = full({}, 7.0);
  expect_error_with([&] { s.select(0, 0); }, {"select", "float32[]"});
  expect_error_with([&] { s.slice(0, 0, 1); }, {"slice", "float32[]"});
  expect_error_with([&] { s.narrow(0, 0, 1); }, {"narrow", "float32[]"});
  expect_error_with([&] { s.size(0); }, {"size", "no dimensions"});
  // Dim 0 / -1 name the scalar itself where that is meaningful.
  EXPECT_EQ(s.squeeze(0).dim(), 0);
  EXPECT_EQ(s.transpose(0, -1).dim(), 0);
  EXPECT_EQ(s.permute({}).dim(), 0);
  EXPECT_EQ(s.unsqueeze(0).sizes(), Shape{1});
  EXPECT_EQ(s.flatten().sizes(), Shape{1});
}

// ---- permute / transpose ------------------------------------------------------------------------------
TEST(TensorViews, PermuteAndTranspose) {
  Tensor x = iota({2, 3, 4});
  Tensor p = x.permute({2, 0, 1});
  EXPECT_EQ(p.sizes(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.strides(), (Strides{1, 12, 4}));
  EXPECT_FALSE(p.is_contiguous());
  expect_view_values(p, {2, 3, 4}, [](const auto& q) { return std::vector<int64_t>{q[1], q[2], q[0]}; });
  Tensor t = x.transpose(-1, 0);
  EXPECT_EQ(t.sizes(), (Shape{4, 3, 2}));
  expect_view_values(t, {2, 3, 4}, [](const auto& q) { return std::vector<int64_t>{q[2], q[1], q[0]}; });
  EXPECT_EQ(to_vector<double>(x.permute({0, 1, 2})), to_vector<double>(x));
  expect_error_with([&] { x.permute({0, 1}); }, {"permute", "2 dims", "float64[2, 3, 4]"});
  expect_error_with([&] { x.permute({0, 2, -1}); }, {"permute", "repeated"});
  expect_error_with([&] { x.transpose(0, 3); }, {"transpose", "dim 3"});
}

// ---- expand -----------------------------------------------------------------------------------------
TEST(TensorViews, ExpandUsesStrideZero) {
  Tensor x = iota({3, 1});
  Tensor e = x.expand({2, 3, 4});
  EXPECT_EQ(e.sizes(), (Shape{2, 3, 4}));
  EXPECT_EQ(e.strides(), (Strides{0, 1, 0}));
  EXPECT_TRUE(e.storage() == x.storage());
  expect_view_values(e, {3, 1}, [](const auto& p) { return std::vector<int64_t>{p[1], 0}; });
  Tensor keep = x.expand({-1, 5});
  EXPECT_EQ(keep.sizes(), (Shape{3, 5}));
  expect_view_values(keep, {3, 1}, [](const auto& p) { return std::vector<int64_t>{p[0], 0}; });
  EXPECT_TRUE(x.expand({3, 1}).is_same(x));
  // Expanding a scalar and a transposed tensor.
  expect_view_values(full({}, 0.0).expand({2, 2}), {}, [](const auto&) { return std::vector<int64_t>{}; });
  Tensor tt = iota({1, 3}).t().expand({3, 2});  // [3, 1] with strides [1, 3] -> [3, 2]
  expect_view_values(tt, {1, 3}, [](const auto& p) { return std::vector<int64_t>{0, p[0]}; });
}

TEST(TensorViews, ExpandErrors) {
  Tensor x = iota({3, 1});
  expect_error_with([&] { x.expand({4, 2}); }, {"expand", "float64[3, 1]", "[4, 2]", "dim 0", "3 vs 4"});
  expect_error_with([&] { x.expand({3}); }, {"expand", "fewer dims", "[3]"});
  expect_error_with([&] { x.expand({-1, 3, 2}); }, {"expand", "invalid size -1"});
  expect_error_with([&] { x.expand({3, -2}); }, {"expand", "-2"});
}

// ---- squeeze / unsqueeze / flatten ------------------------------------------------------------------
TEST(TensorViews, SqueezeUnsqueezeFlatten) {
  Tensor x = iota({2, 1, 3});
  EXPECT_EQ(x.squeeze(1).sizes(), (Shape{2, 3}));
  EXPECT_EQ(x.squeeze(-2).sizes(), (Shape{2, 3}));
  EXPECT_TRUE(x.squeeze(0).is_same(x)) << "squeezing a dim that is not 1 is a no-op";
  EXPECT_EQ(x.unsqueeze(0).sizes(), (Shape{1, 2, 1, 3}));
  EXPECT_EQ(x.unsqueeze(-1).sizes(), (Shape{2, 1, 3, 1}));
  EXPECT_EQ(x.unsqueeze(3).sizes(), (Shape{2, 1, 3, 1}));
  expect_error_with([&] { x.unsqueeze(5); }, {"unsqueeze", "dim 5"});
  // unsqueeze of a non-contiguous tensor stays a view.
  Tensor t = iota({3, 4}).t();
  Tensor u = t.unsqueeze(1);
  EXPECT_TRUE(u.storage() == t.storage());
  expect_view_values(u, {3, 4}, [](const auto& p) { return std::vector<int64_t>{p[2], p[0]}; });
  Tensor y = iota({2, 3, 4, 5});
  EXPECT_EQ(y.flatten().sizes(), Shape{120});
  EXPECT_EQ(y.flatten(1).sizes(), (Shape{2, 60}));
  EXPECT_EQ(y.flatten(1, 2).sizes(), (Shape{2, 12, 5}));
  EXPECT_EQ(y.flatten(-2, -1).sizes(), (Shape{2, 3, 20}));
  EXPECT_EQ(y.flatten(2, 2).sizes(), (Shape{2, 3, 4, 5}));
  expect_error_with([&] { y.flatten(2, 1); }, {"flatten", "start_dim 2", "end_dim 1"});
  // flatten of a permuted tensor copies, with the permuted order.
  expect_view_values(y.permute({3, 2, 1, 0}).flatten(1), {2, 3, 4, 5}, [](const auto& p) {
    return std::vector<int64_t>{p[1] % 2, (p[1] / 2) % 3, p[1] / 6, p[0]};
  });
}

// ---- dtype conversions -------------------------------------------------------------------------------
// Converts float32 values to `dtype` and back.
std::vector<float> round_trip(const std::vector<float>& values, DType dtype) {
  Tensor t = tensor_from(values, {static_cast<int64_t>(values.size())});
  Tensor c = t.to(dtype);
  EXPECT_EQ(c.dtype(), dtype);
  return to_vector<float>(c);
}

TEST(TensorConvert, Float16RoundsToNearestEven) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> in = {1.0f / 3.0f, 65504.0f, 65519.0f, 65520.0f, 1e-7f, 1e-8f, 2049.0f, 2051.0f,
                                 -2.5f, 0.1f, -inf, -0.0f};
  const std::vector<float> expect = {0.333251953125f, 65504.0f, 65504.0f, inf, 1.1920928955078125e-07f, 0.0f,
                                     2048.0f, 2052.0f, -2.5f, 0.0999755859375f, -inf, -0.0f};
  const std::vector<float> got = round_trip(in, DType::Float16);
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(got[i], expect[i]) << "input " << in[i];
  EXPECT_TRUE(std::signbit(got.back()));
  EXPECT_TRUE(std::isnan(round_trip({std::nanf("")}, DType::Float16)[0]));
  // The smallest half subnormal survives exactly.
  EXPECT_EQ(round_trip({5.9604644775390625e-08f}, DType::Float16)[0], 5.9604644775390625e-08f);
}

TEST(TensorConvert, BFloat16RoundsToNearestEven) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> in = {1.0f / 3.0f, 65504.0f, 1e-7f, 1e-8f, 2049.0f, 0.1f, inf, 3e38f,
                                 std::numeric_limits<float>::max()};
  const std::vector<float> expect = {0.333984375f, 65536.0f, 1.0011717677116394e-07f, 1.0011717677116394e-08f,
                                     2048.0f, 0.10009765625f, inf, 3.00405527047391e+38f, inf};
  const std::vector<float> got = round_trip(in, DType::BFloat16);
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(got[i], expect[i]) << "input " << in[i];
  EXPECT_TRUE(std::isnan(round_trip({std::nanf("")}, DType::BFloat16)[0]));
}

TEST(TensorConvert, IntegerAndBoolConversions) {
  Tensor f = tensor_from(std::vector<double>{2.7, -2.7, 0.0, 0.5, 1e3}, {5});
  EXPECT_EQ(to_vector<int64_t>(f.to(DType::Int32)), (std::vector<int64_t>{2, -2, 0, 0, 1000}));  // truncation
  EXPECT_EQ(to_vector<int64_t>(f.to(DType::Bool)), (std::vector<int64_t>{1, 1, 0, 1, 1}));
  const int64_t big = (int64_t{1} << 53) + 1;  // not representable in float64
  Tensor i = tensor_from(std::vector<int64_t>{big, -7}, {2});
  EXPECT_EQ(to_vector<int64_t>(i.to(DType::Int64)), (std::vector<int64_t>{big, -7}));
  EXPECT_EQ(to_vector<int64_t>(i.to(DType::Float64).to(DType::Int64))[1], -7);
  // Conversions of a strided view keep its logical order.
  EXPECT_EQ(to_vector<double>(iota({2, 3}).t().to(DType::Float16)), (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

// ---- item / printing ---------------------------------------------------------------------------------
TEST(TensorItem, ScalarsAndErrors) {
  EXPECT_EQ(full({}, 2.5).item<float>(), 2.5f);
  EXPECT_EQ(full({1, 1}, -3.0, DType::Int64).item<int64_t>(), -3);
  EXPECT_EQ(full({1}, 1.0, DType::Bool).item<bool>(), true);
  EXPECT_EQ(full({}, 1.0 / 3.0, DType::Float16).item<double>(), 0.333251953125);
  EXPECT_EQ(iota({2, 3}).select(1, 2).select(0, 1).item<int32_t>(), 5);
  expect_error_with([&] { iota({2}).item<double>(); }, {"item()", "float64[2]", "2 elements"});
}

TEST(TensorPrint, StrContainsShapeAndValues) {
  const std::string s = tensor_from(std::vector<float>{1.5f, -2.0f, 0.25f, 4.0f}, {2, 2}).str();
  EXPECT_NE(s.find("float32[2, 2]"), std::string::npos) << s;
  EXPECT_NE(s.find("[[1.5, -2],\n [0.25, 4]]"), std::string::npos) << s;
  const std::string i = arange(5).str();
  EXPECT_NE(i.find("[0, 1, 2, 3, 4]"), std::string::npos) << i;
  const std::string elided = arange(100).str(6);
  EXPECT_NE(elided.find("[0, 1, 2, ..., 97, 98, 99]"), std::string::npos) << elided;
  EXPECT_NE(iota({2, 3}).t().str().find("[[0, 3],\n [1, 4],\n [2, 5]]"), std::string::npos);
  EXPECT_NE(full({}, 3.0).str().find("3"), std::string::npos);
  const float inf = std::numeric_limits<float>::infinity();
  const std::string special = tensor_from(std::vector<float>{std::nanf(""), -inf}, {2}).str();
  EXPECT_NE(special.find("nan"), std::string::npos) << special;
  EXPECT_NE(special.find("-inf"), std::string::npos) << special;
  Tensor g = full({2}, 1.0);
  g.set_requires_grad();
  EXPECT_NE(g.str().find("requires_grad"), std::string::npos);
  const std::string empty = Tensor::empty({3, 0}).str();
  EXPECT_NE(empty.find("float32[3, 0]"), std::string::npos) << empty;
  std::ostringstream os;
  os << arange(3);
  EXPECT_NE(os.str().find("[0, 1, 2]"), std::string::npos);
}

}  // namespace
}  // namespace ff
