// Whole-model gradient checks in float64 (framework/autograd/gradcheck.h): the analytic
// gradient of a projected embedding, backpropagated through the entire tiny IResNet or
// MobileFaceNet, against central differences.
//
// The tiny variants keep the real topology (every block, downsample, residual and head) with
// channels / 32 and a 16x16 or 32x32 input (head 1x1 or 2x2), so each forward is cheap. Each
// finite difference is a full forward, so only chosen parameters are perturbed - every element
// of each: the input image (IResNet), the stem, a whole first block with its downsample, a
// residual block, and the head. Gradients of the remaining parameters are still computed by the
// same backward pass that feeds the checked ones, since those lie at both ends of the network.
//
// Eval mode runs BatchNorm with randomised running statistics (a fixed affine map); training
// mode differentiates through the batch statistics as well.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "framework/autograd/autograd.h"
#include "framework/autograd/gradcheck.h"
#include "framework/core/parallel.h"
#include "framework/nn/nn.h"
#include "ops/tensor_ops/random.h"
#include "tests/models/models_test_util.h"

namespace ff::models {
namespace {

using testing::make_backbone;
using testing::random_images;

// float64 model with non-trivial BN statistics and affine parameters and PReLU slopes, so no
// layer is an identity and eval-mode BN is a generic affine map.
std::shared_ptr<Backbone> float64_model(const std::string& name, int64_t input_size) {
  Generator gen(5);
  auto model = make_backbone(
      name,
      BackboneOptions().set_width_divisor(32).set_input_size(input_size).set_embedding_size(4).set_generator(&gen));
  model->to(DType::Float64);
  autograd::NoGradGuard no_grad;
  for (nn::BatchNormBase* bn : model->modules_of_type<nn::BatchNormBase>()) {
    const int64_t c = bn->options().num_features;
    bn->running_mean.copy_(normal({c}, 0.0, 0.2, DType::Float64, Device(), &gen));
    bn->running_var.copy_(uniform({c}, 0.5, 2.0, DType::Float64, Device(), &gen));
    bn->weight.copy_(uniform({c}, 0.5, 1.5, DType::Float64, Device(), &gen));
    bn->bias.copy_(normal({c}, 0.0, 0.2, DType::Float64, Device(), &gen));
  }
  for (nn::PReLU* prelu : model->modules_of_type<nn::PReLU>()) {
    prelu->weight.copy_(uniform({prelu->num_parameters()}, 0.1, 0.4, DType::Float64, Device(), &gen));
  }
  // The conv init N(0, 0.1) grows activations ~2x per conv on fan-in 18..144; keep eval-mode
  // activations O(1) so absolute tolerances mean the same everywhere.
  for (nn::Conv2d* conv : model->modules_of_type<nn::Conv2d>()) {
    const double fan_in = static_cast<double>(nn::init::calculate_fans(conv->weight).fan_in);
    nn::init::normal_(conv->weight, 0.0, 1.0 / std::sqrt(fan_in), &gen);
  }
  return model;
}

// Parameters whose dotted name starts with one of `prefixes`, in model order.
std::vector<Tensor> select(const nn::Module& model, const std::vector<std::string>& prefixes) {
  std::vector<Tensor> out;
  for (const auto& [name, p] : model.named_parameters()) {
    if (!p.requires_grad()) continue;
    for (const std::string& prefix : prefixes) {
      if (name.rfind(prefix, 0) == 0) {
        out.push_back(p);
        break;
      }
    }
  }
  return out;
}

// The checks run thousands of forwards of a model whose tensors hold a few hundred elements.
// At that size an OpenMP region costs more than the work, and on a machine shared with other
// jobs a 2-thread region can stall for milliseconds (measured: 35 s with 2 threads vs 1.2 s
// with 1 for IResNetEval), so the checks run single-threaded.
class SingleThreaded {
 public:
  SingleThreaded() : saved_(get_num_threads()) { set_num_threads(1); }
  ~SingleThreaded() { set_num_threads(saved_); }

 private:
  int saved_;
};

void check(nn::Module& model, const Tensor& x, std::vector<Tensor> inputs, const autograd::GradcheckOptions& opts,
           bool expect_nonzero) {
  SingleThreaded single_threaded;
  int64_t elements = 0;
  for (const Tensor& t : inputs) elements += t.numel();
  ASSERT_GT(elements, 0);
  const autograd::GradcheckResult r = autograd::gradcheck(
      [&](const std::vector<Tensor>&) { return std::vector<Tensor>{model.forward(x)}; }, inputs, opts);
  EXPECT_TRUE(r.ok) << r.message << " (" << elements << " elements, max error " << r.max_abs_error << ")";
  for (const char* op : {"conv2d", "batch_norm", "prelu", "linear"}) EXPECT_EQ(r.ops_seen.count(op), 1u) << op;
  // Not vacuous: the analytic gradients gradcheck left on the inputs are far from zero.
  // (In training mode some are exactly zero by design - fc.bias feeds a batch-normalised
  // layer - so only eval-mode checks call this with expect_nonzero.)
  if (expect_nonzero) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      ASSERT_TRUE(inputs[i].grad().defined()) << "input " << i;
      EXPECT_GT(testing::max_abs(inputs[i].grad()), 1e-6) << "input " << i << " " << inputs[i].describe();
    }
  }
}

// Eval mode: the gradient with respect to the image is checked along with the parameters
// under `prefixes`, and every checked gradient must be far from zero.
void check_eval(const std::string& network, int64_t batch, int64_t input_size, uint64_t seed,
                const std::vector<std::string>& prefixes) {
  auto model = float64_model(network, input_size);
  model->eval();
  Tensor x = random_images(batch, input_size, seed, DType::Float64);
  x.set_requires_grad(true);
  std::vector<Tensor> inputs = {x};
  for (const Tensor& p : select(*model, prefixes)) inputs.push_back(p);
  check(*model, x, inputs, {}, /*expect_nonzero=*/true);
}

// Training mode: batch statistics make the loss depend on all samples jointly; the tolerances
// allow for the larger curvature of the normalisation.
void check_training(const std::string& network, int64_t batch, int64_t input_size, uint64_t seed,
                    const std::vector<std::string>& prefixes) {
  auto model = float64_model(network, input_size);
  model->train();
  const Tensor x = random_images(batch, input_size, seed, DType::Float64);
  autograd::GradcheckOptions opts;
  opts.atol = 1e-5;
  opts.rtol = 1e-4;
  check(*model, x, select(*model, prefixes), opts, /*expect_nonzero=*/false);
}

TEST(WholeModelGradients, IResNetEval) {
  check_eval("r18", 2, 16, 41, {"conv1.", "bn1.", "prelu.", "layer1.0.", "layer3.1.", "bn2.", "fc.", "features."});
}

TEST(WholeModelGradients, IResNetTrainingThroughBatchStatistics) {
  check_training("r18", 4, 32, 42, {"conv1.", "layer2.0.", "layer4.1.bn3.", "fc.bias", "features.bias"});
}

TEST(WholeModelGradients, MobileFaceNetEval) {
  check_eval("mbf", 1, 32, 43,
             {"layers.0.", "layers.1.", "layers.2.layers.1.", "layers.3.layers.0.", "layers.6.layers.2.", "conv_sep.",
              "features."});
}

TEST(WholeModelGradients, MobileFaceNetTrainingThroughBatchStatistics) {
  check_training("mbf", 4, 32, 44,
                 {"layers.0.layers.2.", "layers.5.layers.0.", "features.layers.0.", "features.layers.3."});
}

}  // namespace
}  // namespace ff::models
