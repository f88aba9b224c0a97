// Inference passes: each keeps the graph's output (checked by replaying it with our own ops).
#include <gtest/gtest.h>

#include "framework/autograd/autograd.h"
#include "framework/graph/interpreter.h"
#include "framework/graph/passes.h"
#include "framework/graph/trace_module.h"
#include "framework/graph/tracer.h"
#include "models/model_factory.h"
#include "ops/activation/activation.h"
#include "ops/conv/conv2d.h"
#include "ops/elementwise/binary.h"
#include "ops/linalg/matmul.h"
#include "ops/norm/batch_norm.h"
#include "ops/tensor_ops/fill.h"
#include "tests/graph/graph_test_util.h"

namespace ff::graph {
namespace {

Tensor replay(const Graph& g, const Tensor& x) { return run_graph(g, {{g.inputs[0].name, x}}).at(0); }

// conv(no bias) -> bn -> relu -> conv(bias) -> bn, as a hand-traced graph.
Graph conv_bn_graph(const Tensor& x) {
  Tracer tracer;
  tracer.add_input("x", x);
  auto stats = [](int64_t c) {
    return std::vector<Tensor>{uniform({c}, 0.5, 1.5), uniform({c}, -0.2, 0.2), uniform({c}, -0.5, 0.5),
                               uniform({c}, 0.5, 2.0)};
  };
  const auto s1 = stats(6), s2 = stats(5);
  Conv2dParams p;
  p.padding = {1, 1};
  Tensor h = conv2d(x, randn({6, 3, 3, 3}), Tensor(), p);
  h = batch_norm(h, s1[0], s1[1], s1[2], s1[3], false, 0.1, 1e-5);
  h = relu(h);
  h = conv2d(h, randn({5, 6, 1, 1}), randn({5}));
  h = batch_norm(h, s2[0], s2[1], s2[2], s2[3], false, 0.1, 1e-3);
  return tracer.finish({{"y", h}});
}

TEST(FoldBatchNorm, ConvBnFoldsAndKeepsTheOutput) {
  manual_seed(3);
  const Tensor x = randn({2, 3, 6, 6});
  Graph g = conv_bn_graph(x);
  const Tensor before = replay(g, x);
  EXPECT_EQ(fold_batch_norm(g), 2);
  EXPECT_EQ(g.op_histogram().count("batch_norm"), 0u) << g.str();
  EXPECT_EQ(g.op_histogram().at("conv2d"), 2);
  EXPECT_EQ(g.outputs[0].name, "y");
  EXPECT_NO_THROW(g.validate());
  const Tensor after = replay(g, x);
  EXPECT_LT(testing::max_rel_diff(after, before), 1e-5);
  // The unfolded weights are gone (dead-code elimination), the folded ones are there.
  for (const auto& [name, t] : g.initializers()) EXPECT_NE(name.find("bnfolded"), std::string::npos) << name;
}

TEST(FoldBatchNorm, LeavesTrainingModeAndSharedOutputsAlone) {
  manual_seed(4);
  const Tensor x = randn({4, 3, 4, 4});
  Tracer tracer;
  tracer.add_input("x", x);
  const Tensor c = conv2d(x, randn({2, 3, 1, 1}));
  const Tensor a = batch_norm(c, Tensor(), Tensor(), ones({2}), ones({2}), false);  // c read twice
  const Tensor y = add(a, c);
  Graph g = tracer.finish({{"y", y}});
  EXPECT_EQ(fold_batch_norm(g), 0);
  EXPECT_EQ(g.op_histogram().at("batch_norm"), 1);
}

TEST(FoldBatchNorm, LinearBn1dFolds) {
  manual_seed(5);
  const Tensor x = randn({3, 8});
  Tracer tracer;
  tracer.add_input("x", x);
  Tensor h = linear(x, randn({4, 8}), randn({4}));
  h = batch_norm(h, uniform({4}, 0.5, 1.5), uniform({4}, -1, 1), uniform({4}, -1, 1), uniform({4}, 0.5, 2), false);
  Graph g = tracer.finish({{"y", h}});
  const Tensor before = replay(g, x);
  EXPECT_EQ(fold_batch_norm(g), 1);
  EXPECT_EQ(g.nodes.size(), 1u);
  EXPECT_LT(testing::max_rel_diff(replay(g, x), before), 1e-5);
}

// A hand-built graph: x -> dropout(eval) -> reshape(same shape) -> relu -> cast(same) -> y,
// plus a dead branch.
Graph identity_graph() {
  Graph g;
  g.inputs.push_back(ValueInfo{"x", {2, 3}, DType::Float32});
  g.set_value(g.inputs[0]);
  for (const char* v : {"d", "r", "a", "y", "dead"}) g.set_value(ValueInfo{v, {2, 3}, DType::Float32});
  g.add_initializer("unused", ones({3}));
  g.nodes.push_back(Node{"dropout_0", "dropout", {"x"}, {"d"}, {{"p", 0.5}, {"training", int64_t{0}}}});
  g.nodes.push_back(Node{"reshape_1", "reshape", {"d"}, {"r"}, {{"shape", Shape{2, 3}}, {"input_shape", Shape{2, 3}}}});
  g.nodes.push_back(Node{"relu_2", "relu", {"r"}, {"a"}, {}});
  g.nodes.push_back(Node{"exp_3", "exp", {"a"}, {"dead"}, {}});
  g.nodes.push_back(Node{"cast_4", "cast", {"a"}, {"y"}, {{"dtype", static_cast<int64_t>(DType::Float32)}}});
  g.outputs.push_back(g.value("y"));
  g.validate();
  return g;
}

TEST(Passes, DropoutIdentitiesAndDeadCodeGo) {
  Graph g = identity_graph();
  const Tensor x = randn({2, 3});
  const Tensor before = replay(g, x);
  EXPECT_EQ(remove_dropout(g), 1);
  EXPECT_EQ(remove_identities(g), 2);  // reshape to the same shape, cast to the same dtype
  EXPECT_EQ(eliminate_dead_code(g), 1);
  EXPECT_FALSE(g.is_initializer("unused"));
  ASSERT_EQ(g.nodes.size(), 1u) << g.str();
  EXPECT_EQ(g.nodes[0].op, "relu");
  EXPECT_EQ(g.nodes[0].inputs[0], "x");
  EXPECT_EQ(g.nodes[0].outputs[0], "y");  // the graph output keeps its name
  EXPECT_NO_THROW(g.validate());
  EXPECT_LT(testing::max_rel_diff(replay(g, x), before), 1e-12);
}

TEST(Passes, TrainingDropoutStays) {
  Graph g = identity_graph();
  g.nodes[0].attrs["training"] = int64_t{1};
  EXPECT_EQ(remove_dropout(g), 0);
}

TEST(Passes, IdentityBetweenInputAndOutputIsKept) {
  Graph g;
  g.inputs.push_back(ValueInfo{"x", {2}, DType::Float32});
  g.set_value(g.inputs[0]);
  g.set_value(ValueInfo{"y", {2}, DType::Float32});
  g.nodes.push_back(Node{"cast_0", "cast", {"x"}, {"y"}, {{"dtype", static_cast<int64_t>(DType::Float32)}}});
  g.outputs.push_back(g.value("y"));
  EXPECT_EQ(remove_identities(g), 0);  // "y" must still be produced by some node
  EXPECT_NO_THROW(g.validate());
}

// Whole backbones (shrunk): the passes with BN folding match the unfolded graph and the module.
class BackbonePasses : public ::testing::TestWithParam<std::string> {};

TEST_P(BackbonePasses, FoldedGraphMatchesTheModule) {
  manual_seed(6);
  auto model = models::create_backbone(GetParam(), models::BackboneOptions().set_width_divisor(8).set_input_size(32));
  testing::randomize_batch_norms(*model);
  model->eval();
  const Tensor x = randn({2, 3, 32, 32});
  Graph g = trace_module(*model, "data", x, "embedding");
  Tensor want;
  {
    autograd::NoGradGuard no_grad;
    want = model->forward(x);
  }
  EXPECT_LT(testing::max_rel_diff(replay(g, x), want), 1e-6);
  Graph folded = g;
  run_inference_passes(folded, PassOptions{true});
  EXPECT_LT(folded.nodes.size(), g.nodes.size());
  EXPECT_LT(folded.op_histogram()["batch_norm"], g.op_histogram()["batch_norm"]);
  EXPECT_LT(testing::max_rel_diff(replay(folded, x), want), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Backbones, BackbonePasses, ::testing::Values("r18", "mbf"));

}  // namespace
}  // namespace ff::graph
