// Body precision (float16 / bfloat16 body, float32 head), as arcface_torch's fp16 mode splits it:
// IResNet keeps fc + features in float32, MobileFaceNet keeps conv_sep + features (GDC).
// These run on the CPU kernels, which compute 16-bit convolutions on widened float copies.
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "framework/nn/nn.h"
#include "ops/reduce/reduce.h"
#include "tests/models/models_test_util.h"

namespace ff::models {
namespace {

using testing::all_finite;
using testing::make_backbone;
using testing::max_abs;
using testing::max_abs_diff;
using testing::random_images;
using testing::tiny_options;

bool under(const std::string& name, const std::vector<std::string>& heads) {
  for (const std::string& h : heads) {
    if (name.rfind(h + ".", 0) == 0) return true;
  }
  return false;
}

// Body Conv2d/PReLU parameters in `body`; BatchNorm parameters and buffers and the head float32.
void expect_dtypes(const Backbone& model, DType body) {
  const std::vector<std::string> heads = model.head_module_names();
  for (const auto& [name, p] : model.named_parameters()) {
    const bool is_bn = model.has_buffer(name.substr(0, name.rfind('.')) + ".running_mean");
    const DType expected = under(name, heads) || is_bn ? DType::Float32 : body;
    EXPECT_EQ(p.dtype(), expected) << model.network() << " " << name;
  }
  for (const auto& [name, b] : model.named_buffers()) {
    if (is_floating(b.dtype())) {
      EXPECT_EQ(b.dtype(), DType::Float32) << model.network() << " " << name;
    }
  }
  EXPECT_EQ(model.body_dtype(), body);
}

struct Case {
  std::string network;
  DType dtype;
  double min_cosine;  // between each embedding and its float32 counterpart
};

// gtest (and ctest's test list) print a parameter with this instead of its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.network << "/" << dtype_name(c.dtype); }

class BodyPrecision : public ::testing::TestWithParam<Case> {};

TEST_P(BodyPrecision, TinyModelMatchesFloat32AndTrains) {
  const Case c = GetParam();
  auto reference = make_backbone(c.network, tiny_options());
  auto low = make_backbone(c.network, tiny_options().set_body_dtype(c.dtype));
  expect_dtypes(*low, c.dtype);
  low->load_state_dict(reference->state_dict());  // converts into each tensor's dtype
  expect_dtypes(*low, c.dtype);

  // Training mode (batch statistics), so both see well-scaled activations.
  const Tensor x = random_images(8, 32, 31);
  const Tensor y32 = reference->forward(x);
  const Tensor y16 = low->forward(x);
  EXPECT_EQ(y16.dtype(), DType::Float32);  // the head is float32
  EXPECT_EQ(y16.sizes(), (Shape{8, 8}));
  EXPECT_GT(testing::min_row_cosine(y16, y32), c.min_cosine)
      << c.network << " " << dtype_name(c.dtype) << ", max abs diff " << max_abs_diff(y16, y32) << " of "
      << max_abs(y32);

  sum(y16 * y16).backward();
  for (const auto& [name, p] : low->named_parameters()) {
    if (!p.requires_grad()) continue;
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().dtype(), p.dtype()) << name;
    EXPECT_TRUE(all_finite(p.grad())) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Backbones, BodyPrecision,
                         ::testing::Values(Case{"r18", DType::Float16, 0.999}, Case{"r18", DType::BFloat16, 0.99},
                                           Case{"mbf", DType::Float16, 0.999}, Case{"mbf", DType::BFloat16, 0.99}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.network + "_" + dtype_name(info.param.dtype);
                         });

TEST(BodyPrecision, FullSizeMbfFloat16Forward) {
  auto reference = make_backbone("mbf");
  auto half = make_backbone("mbf", BackboneOptions().set_body_dtype(DType::Float16));
  half->load_state_dict(reference->state_dict());
  // Eval mode: training-mode BatchNorm1d over a batch of 2 maps each feature to about +-1, where
  // rounding can flip signs; running statistics give a per-sample map.
  reference->eval();
  half->eval();
  const Tensor x = random_images(2, 112, 32);
  const Tensor y32 = reference->forward(x);
  const Tensor y16 = half->forward(x);
  EXPECT_EQ(y16.sizes(), (Shape{2, 512}));
  EXPECT_EQ(y16.dtype(), DType::Float32);
  EXPECT_GT(testing::min_row_cosine(y16, y32), 0.999)
      << "max abs diff " << max_abs_diff(y16, y32) << " of " << max_abs(y32);
}

TEST(BodyPrecision, SetBodyDtypeAfterConstructionAndBack) {
  auto model = make_backbone("r34", tiny_options());
  model->set_body_dtype(DType::BFloat16);
  expect_dtypes(*model, DType::BFloat16);
  model->set_body_dtype(DType::Float32);
  expect_dtypes(*model, DType::Float32);
  testing::expect_error_containing([&] { model->set_body_dtype(DType::Float64); }, {"r34", "float64"});
}

TEST(BodyPrecision, WholeModelFloat64ForGradientChecks) {
  // Module::to(Float64) converts body and head alike; forward follows the parameters' dtype.
  auto model = make_backbone("mbf", tiny_options());
  model->to(DType::Float64);
  const Tensor y = model->forward(random_images(2, 32, 33));
  EXPECT_EQ(y.dtype(), DType::Float64);
  EXPECT_EQ(model->body_dtype(), DType::Float64);
}

}  // namespace
}  // namespace ff::models
