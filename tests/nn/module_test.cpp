// nn::Module: registration and naming, traversal, modes, freezing, hooks, to(), printing.
#include "framework/nn/module.h"

#include <gtest/gtest.h>

#include <map>

#include "framework/autograd/autograd.h"
#include "framework/nn/nn.h"
#include "ops/elementwise/binary.h"
#include "ops/reduce/reduce.h"
#include "tests/nn/nn_test_util.h"

namespace ff::nn {
namespace {

using testing::expect_error_containing;
using testing::random_input;
using testing::values;

// A small custom module: a parameter, a buffer and a child.
class Block : public Module {
 public:
  Block() {
    scale = register_parameter("scale", ones({3}));
    counter = register_buffer("counter", zeros({1}));
    fc = register_module("fc", std::make_shared<Linear>(3, 3));
  }
  std::string name() const override { return "Block"; }
  Tensor forward(const Tensor& x) override { return fc->forward(x * scale); }

  Tensor scale;
  Tensor counter;
  std::shared_ptr<Linear> fc;
};

class Net : public Module {
 public:
  Net() {
    features = register_module("features", std::make_shared<Sequential>());
    features->push_back(std::make_shared<Block>());
    features->push_back(std::make_shared<Block>());
    head = register_module("head", std::make_shared<Linear>(3, 2, /*bias=*/false));
  }
  Tensor forward(const Tensor& x) override { return head->forward(features->forward(x)); }

  std::shared_ptr<Sequential> features;
  std::shared_ptr<Linear> head;
};

std::vector<std::string> names_of(const std::vector<NamedTensor>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.first);
  return out;
}

TEST(Module, NestedDottedNamesInRegistrationOrder) {
  Net net;
  EXPECT_EQ(names_of(net.named_parameters()),
            (std::vector<std::string>{"features.0.scale", "features.0.fc.weight", "features.0.fc.bias",
                                      "features.1.scale", "features.1.fc.weight", "features.1.fc.bias",
                                      "head.weight"}));
  EXPECT_EQ(names_of(net.named_buffers()), (std::vector<std::string>{"features.0.counter", "features.1.counter"}));
  EXPECT_EQ(names_of(net.named_parameters(/*recurse=*/false)).size(), 0u);
  EXPECT_EQ(net.parameters().size(), 7u);
  EXPECT_EQ(net.children().size(), 2u);

  std::vector<std::string> module_names;
  for (const auto& [path, m] : net.named_modules()) module_names.push_back(path + ":" + m->name());
  EXPECT_EQ(module_names, (std::vector<std::string>{":Net", "features:Sequential", "features.0:Block",
                                                    "features.0.fc:Linear", "features.1:Block",
                                                    "features.1.fc:Linear", "head:Linear"}));
  EXPECT_EQ(net.modules_of_type<Linear>().size(), 3u);
  EXPECT_EQ(net.modules_of_type<Block>().size(), 2u);
}

TEST(Module, DefaultNameIsTheUnqualifiedClassName) {
  Net net;  // does not override name()
  EXPECT_EQ(net.name(), "Net");
}

TEST(Module, LookupByPath) {
  Net net;
  auto block = net.features->at<Block>(1);
  EXPECT_TRUE(net.parameter("features.1.fc.weight").is_same(block->fc->weight));
  EXPECT_TRUE(net.buffer("features.0.counter").is_same(net.features->at<Block>(0)->counter));
  EXPECT_EQ(net.child("features.1").get(), block.get());
  EXPECT_TRUE(net.has_parameter("head.weight"));
  EXPECT_FALSE(net.has_parameter("head.bias"));
  EXPECT_FALSE(net.has_parameter("nothing.here"));
  EXPECT_TRUE(net.has_buffer("features.1.counter"));
  expect_error_containing([&] { net.parameter("features.7.scale"); }, {"'7'", "features.7.scale", "[0, 1]"});
  expect_error_containing([&] { net.parameter("head.bias"); }, {"head.bias", "[weight]"});
}

TEST(Module, RegistrationNameErrors) {
  Block block;
  expect_error_containing([&] { block.register_parameter("scale", ones({1})); },
                          {"Block", "'scale'", "already a parameter"});
  expect_error_containing([&] { block.register_buffer("fc", ones({1})); }, {"Block", "'fc'", "already a submodule"});
  expect_error_containing([&] { block.register_module("counter", std::make_shared<ReLU>()); },
                          {"Block", "'counter'", "already a buffer"});
  expect_error_containing([&] { block.register_parameter("a.b", ones({1})); }, {"Block", "'a.b'", "'.'"});
  expect_error_containing([&] { block.register_parameter("", ones({1})); }, {"Block", "empty"});
  expect_error_containing([&] { block.register_parameter("undefined", Tensor()); }, {"Block", "'undefined'"});
  expect_error_containing([&] { block.register_parameter("ints", zeros({2}, DType::Int64)); },
                          {"'ints'", "floating"});
  Tensor leaf = ones({2}).set_requires_grad(true);
  Tensor computed = leaf * 2.0;
  expect_error_containing([&] { block.register_parameter("computed", computed); }, {"'computed'", "history"});
  expect_error_containing([&] { block.register_module("null", std::shared_ptr<Module>()); }, {"'null'", "null"});
  // A non-trainable parameter may be integral.
  EXPECT_FALSE(block.register_parameter("frozen_ints", zeros({2}, DType::Int64), false).requires_grad());
}

TEST(Module, RefusesCycles) {
  auto outer = std::make_shared<Sequential>();
  auto inner = std::make_shared<Sequential>();
  outer->push_back(inner);
  expect_error_containing([&] { inner->push_back(outer); }, {"Sequential", "tree"});
  expect_error_containing([&] { inner->push_back(inner); }, {"tree"});
}

TEST(Module, SharedModulesAndParametersAreListedOnce) {
  auto shared = std::make_shared<Linear>(2, 2);
  Sequential seq{shared, std::make_shared<ReLU>(), shared};
  EXPECT_EQ(names_of(seq.named_parameters()), (std::vector<std::string>{"0.weight", "0.bias"}));
  EXPECT_EQ(seq.num_parameters(), 6);
  // The state dict mirrors the structure, like PyTorch.
  const StateDict dict = seq.state_dict();
  EXPECT_EQ(dict.size(), 4u);
  EXPECT_TRUE(dict.count("2.weight"));
}

TEST(Module, TrainEvalPropagates) {
  Net net;
  for (Module* m : net.modules()) EXPECT_TRUE(m->is_training());
  net.eval();
  for (Module* m : net.modules()) EXPECT_FALSE(m->is_training()) << m->name();
  net.features->train();
  EXPECT_FALSE(net.is_training());
  EXPECT_TRUE(net.features->at<Block>(0)->fc->is_training());
  EXPECT_FALSE(net.head->is_training());
}

TEST(Module, FreezeAllAndByPrefix) {
  Net net;
  EXPECT_EQ(net.num_parameters(), 3 + 9 + 3 + 3 + 9 + 3 + 6);
  EXPECT_EQ(net.freeze(), 7);
  EXPECT_EQ(net.num_parameters(/*trainable_only=*/true), 0);
  EXPECT_EQ(net.unfreeze(), 7);
  EXPECT_EQ(net.freeze("features.0"), 3);
  EXPECT_EQ(net.freeze("head.weight"), 1);
  EXPECT_EQ(net.num_parameters(true), 15);
  EXPECT_FALSE(net.parameter("features.0.fc.bias").requires_grad());
  EXPECT_TRUE(net.parameter("features.1.fc.bias").requires_grad());
  // Whole components only, and a prefix that matches nothing is a typo.
  expect_error_containing([&] { net.freeze("feat"); }, {"freeze", "'feat'", "features"});
  expect_error_containing([&] { net.unfreeze("features.0.fc.w"); }, {"unfreeze", "'features.0.fc.w'"});
}

TEST(Module, FrozenParametersGetNoGradient) {
  Net net;
  net.freeze("features.0");
  Tensor loss = sum(net(random_input({4, 3}, 1)));
  loss.backward();
  for (const auto& [path, p] : net.named_parameters()) {
    const bool frozen = path.rfind("features.0.", 0) == 0;
    EXPECT_EQ(p.grad().defined(), !frozen) << path;
  }
  net.zero_grad();
  for (const Tensor& p : net.parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, GradReadyHooksFireOncePerParameterPerBackward) {
  Sequential seq{std::make_shared<Linear>(4, 8), std::make_shared<ReLU>(), std::make_shared<Linear>(8, 2)};
  std::map<std::string, int> fired;
  for (auto& [path, p] : seq.named_parameters()) {
    Tensor param = p;
    param.register_grad_ready_hook([&fired, path = path](const Tensor& g) {
      EXPECT_TRUE(g.grad().defined());
      ++fired[path];
    });
  }
  const Tensor x = random_input({5, 4}, 2);
  sum(seq(x)).backward();
  ASSERT_EQ(fired.size(), 4u);
  for (const auto& [path, count] : fired) EXPECT_EQ(count, 1) << path;
  sum(seq(x)).backward();
  for (const auto& [path, count] : fired) EXPECT_EQ(count, 2) << path;
}

TEST(Module, ToDTypeRoundTripKeepsIdentityAndLeaves) {
  auto linear = std::make_shared<Linear>(3, 2);
  auto bn = std::make_shared<BatchNorm1d>(2);
  Sequential seq{linear, bn};
  const Tensor weight_handle = linear->weight;
  const std::vector<double> before = values(linear->weight);
  int hook_calls = 0;
  linear->weight.register_grad_ready_hook([&](const Tensor&) { ++hook_calls; });
  sum(seq(random_input({4, 3}, 3))).backward();  // leaves gradients to convert too
  ASSERT_EQ(hook_calls, 1);

  seq.to(DType::Float64);
  for (const auto& [path, p] : seq.named_parameters()) {
    EXPECT_EQ(p.dtype(), DType::Float64) << path;
    EXPECT_TRUE(p.requires_grad()) << path;
    EXPECT_TRUE(p.is_leaf()) << path;
    EXPECT_EQ(p.grad().dtype(), DType::Float64) << path;
  }
  EXPECT_EQ(bn->running_mean.dtype(), DType::Float64);
  EXPECT_EQ(bn->num_batches_tracked.dtype(), DType::Int64);  // counters are not cast
  EXPECT_TRUE(weight_handle.is_same(linear->weight));
  EXPECT_EQ(weight_handle.dtype(), DType::Float64);  // the member handle sees the conversion
  EXPECT_EQ(values(linear->weight), before);

  Tensor x64 = random_input({4, 3}, 4).to(DType::Float64);
  Tensor y = seq(x64);
  EXPECT_EQ(y.dtype(), DType::Float64);
  sum(y).backward();
  EXPECT_EQ(hook_calls, 2);  // hooks survive the conversion

  seq.to(DType::Float32);
  EXPECT_EQ(linear->weight.dtype(), DType::Float32);
  EXPECT_EQ(values(linear->weight), before);  // float32 -> float64 -> float32 is exact
  expect_error_containing([&] { seq.to(DType::Int32); }, {"Sequential", "int32"});
}

TEST(Module, ToDeviceCpuIsANoOp) {
  Linear linear(2, 2);
  const auto storage = linear.weight.storage();
  linear.to(Device(DeviceType::CPU));
  EXPECT_EQ(linear.weight.storage(), storage);
}

TEST(Module, StrPrintsTheTreeLikePyTorch) {
  Sequential seq{std::make_shared<Conv2d>(Conv2dOptions(3, 64, 3).set_padding(1).set_bias(false)),
                 std::make_shared<BatchNorm2d>(64), std::make_shared<PReLU>(64), std::make_shared<Flatten>(),
                 std::make_shared<Dropout>(0.0), std::make_shared<Linear>(64, 8), std::make_shared<ReLU>()};
  const std::string expected =
      "Sequential(\n"
      "  (0): Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
      "  (1): BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
      "  (2): PReLU(num_parameters=64)\n"
      "  (3): Flatten(start_dim=1, end_dim=-1)\n"
      "  (4): Dropout(p=0.0)\n"
      "  (5): Linear(in_features=64, out_features=8, bias=True)\n"
      "  (6): ReLU()\n"
      ")";
  EXPECT_EQ(seq.str(), expected);

  Net net;
  const std::string s = net.str();
  EXPECT_NE(s.find("Net(\n  (features): Sequential(\n    (0): Block(\n      (fc): Linear("), std::string::npos) << s;
  EXPECT_NE(s.find("  (head): Linear(in_features=3, out_features=2, bias=False)\n)"), std::string::npos) << s;
}

TEST(Module, ContainersIndexAndReportMisuse) {
  ModuleList list{std::make_shared<Linear>(2, 2), std::make_shared<ReLU>()};
  list.push_back("named", std::make_shared<Flatten>());
  EXPECT_EQ(list.size(), 3u);
  EXPECT_EQ(list[-1]->name(), "Flatten");
  EXPECT_EQ(list.at<Linear>(0)->in_features(), 2);
  EXPECT_TRUE(list.child("named") != nullptr);
  expect_error_containing([&] { list[3]; }, {"ModuleList", "index 3", "3 element"});
  expect_error_containing([&] { list.at<Linear>(1); }, {"ModuleList", "ReLU"});
  expect_error_containing([&] { list.forward(ones({2})); }, {"ModuleList", "forward"});
  Sequential empty;
  const Tensor x = ones({2});
  EXPECT_TRUE(empty(x).is_same(x));  // identity
}

TEST(Module, ApplyVisitsChildrenFirst) {
  Net net;
  std::vector<std::string> order;
  net.apply([&](Module& m) { order.push_back(m.name()); });
  EXPECT_EQ(order.front(), "Linear");
  EXPECT_EQ(order.back(), "Net");
  EXPECT_EQ(order.size(), 7u);
}

}  // namespace
}  // namespace ff::nn
