// Number-for-number check against PyTorch: the tiny IResNet-18 and MobileFaceNet of
// tests/models/golden/*.safetensors were built and run in PyTorch by
// tests/models/golden/make_golden.py (float64, arcface_torch's module structure and key names).
// FaceFlow loads the PyTorch state_dict strictly and must reproduce the eval and training-mode
// embeddings, every parameter and input gradient, and the BatchNorm running statistics after the
// training forward, to float64 rounding.
#include <gtest/gtest.h>

#include <string>

#include "framework/io/safetensors.h"
#include "framework/nn/nn.h"
#include "ops/reduce/reduce.h"
#include "tests/models/models_test_util.h"

namespace ff::models {
namespace {

using testing::max_abs;
using testing::max_abs_diff;

std::string golden_path(const std::string& name) {
  const std::string here = __FILE__;
  return here.substr(0, here.rfind('/')) + "/golden/" + name + ".safetensors";
}

// Entries of `file` under "<prefix>.", with the prefix removed.
StateDict section(const StateDict& file, const std::string& prefix) {
  StateDict out;
  for (const auto& [key, value] : file) {
    if (key.rfind(prefix + ".", 0) == 0) out.emplace(key.substr(prefix.size() + 1), value);
  }
  return out;
}

// |actual - expected| <= 1e-9 * max(1, max |expected|), element by element over the tensor.
void expect_close(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what << " is undefined";
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double scale = std::max(1.0, max_abs(expected));
  EXPECT_LE(max_abs_diff(actual, expected), 1e-9 * scale) << what << " (max |expected| " << scale << ")";
}

void check_against_pytorch(const std::string& network, const std::string& file_name, int64_t input_size) {
  const SafetensorsContents golden = load_safetensors(golden_path(file_name));
  const StateDict& g = golden.tensors;
  ASSERT_EQ(golden.metadata.at("input_size"), std::to_string(input_size));

  auto model = create_backbone(
      network, BackboneOptions().set_width_divisor(32).set_input_size(input_size).set_embedding_size(8));
  model->to(DType::Float64);
  model->load_state_dict(section(g, "model"));  // strict: PyTorch's keys are exactly ours

  model->eval();
  expect_close(model->forward(g.at("eval.input")), g.at("eval.output"), network + " eval output");

  model->train();
  Tensor x = g.at("train.input").clone();
  x.set_requires_grad(true);
  const Tensor y = model->forward(x);
  expect_close(y, g.at("train.output"), network + " training output");
  sum(y * g.at("train.projection")).backward();
  expect_close(x.grad(), g.at("grad.input"), network + " input gradient");

  const StateDict grads = section(g, "grad");
  int64_t checked = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    if (!p.requires_grad()) {
      EXPECT_EQ(grads.count(name), 0u) << name << " is frozen here but trained in PyTorch";
      continue;
    }
    ASSERT_EQ(grads.count(name), 1u) << "no PyTorch gradient for " << name;
    expect_close(p.grad(), grads.at(name), network + " gradient of " + name);
    ++checked;
  }
  EXPECT_EQ(checked + 1, static_cast<int64_t>(grads.size()));  // + grad.input

  for (const auto& [name, expected] : section(g, "after")) {
    const Tensor actual = model->buffer(name);
    if (is_integral(expected.dtype())) {
      EXPECT_EQ(actual.item<int64_t>(), expected.item<int64_t>()) << name;
    } else {
      expect_close(actual, expected, network + " " + name + " after the training forward");
    }
  }
}

TEST(GoldenPyTorch, IResNet18Tiny) { check_against_pytorch("r18", "iresnet18_tiny", 16); }

TEST(GoldenPyTorch, MobileFaceNetTiny) { check_against_pytorch("mbf", "mbf_tiny", 32); }

}  // namespace
}  // namespace ff::models
