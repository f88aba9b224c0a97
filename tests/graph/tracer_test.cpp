// The tracer: what a forward pass records, and that replaying the graph reproduces it.
#include <gtest/gtest.h>

#include "framework/autograd/autograd.h"
#include "framework/graph/interpreter.h"
#include "framework/graph/trace_module.h"
#include "framework/graph/tracer.h"
#include "framework/nn/layers/batch_norm.h"
#include "framework/nn/layers/conv2d.h"
#include "framework/nn/layers/flatten.h"
#include "framework/nn/layers/linear.h"
#include "framework/nn/layers/prelu.h"
#include "ops/activation/activation.h"
#include "ops/elementwise/binary.h"
#include "ops/norm/l2_normalize.h"
#include "ops/reduce/reduce.h"
#include "ops/shape/shape.h"
#include "tests/graph/graph_test_util.h"

namespace ff::graph {
namespace {

// conv -> bn -> prelu (+ residual) -> flatten -> linear -> bn1d -> l2_normalize
struct TinyNet : nn::Module {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::PReLU> prelu;
  std::shared_ptr<nn::Linear> fc;
  std::shared_ptr<nn::BatchNorm1d> features;
  TinyNet() {
    conv = register_module("conv", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 4, 3).set_padding(1)));
    bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(4));
    prelu = register_module("prelu", std::make_shared<nn::PReLU>(4));
    fc = register_module("fc", std::make_shared<nn::Linear>(4 * 5 * 5, 6));
    features = register_module("features", std::make_shared<nn::BatchNorm1d>(6));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = prelu->forward(bn->forward(conv->forward(x)));
    h = h + conv->forward(x) * 0.5;
    h = h.flatten(1);
    return l2_normalize(features->forward(fc->forward(h)), 1);
  }
};

TEST(Tracer, RecordsOpsInputsOutputsAndNamedInitializers) {
  manual_seed(1);
  TinyNet net;
  testing::randomize_batch_norms(net);
  net.eval();
  const Tensor x = randn({2, 3, 5, 5});
  Graph g = trace_module(net, "data", x, "embedding");

  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0].name, "data");
  EXPECT_EQ(g.inputs[0].shape, (Shape{2, 3, 5, 5}));
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.outputs[0].name, "embedding");
  EXPECT_EQ(g.outputs[0].shape, (Shape{2, 6}));

  const auto ops = g.op_histogram();
  EXPECT_EQ(ops.at("conv2d"), 2);
  EXPECT_EQ(ops.at("batch_norm"), 2);
  EXPECT_EQ(ops.at("prelu"), 1);
  EXPECT_EQ(ops.at("mul"), 1);
  EXPECT_EQ(ops.at("add"), 1);
  EXPECT_EQ(ops.at("reshape"), 1);
  EXPECT_EQ(ops.at("linear"), 1);
  EXPECT_EQ(ops.at("l2_normalize"), 1);
  // Ops called inside ops (dtype casts, detach, contiguous copies) are not recorded.
  EXPECT_EQ(ops.count("cast"), 0u);
  EXPECT_EQ(g.nodes.size(), 10u) << g.str();

  // Parameters and buffers keep their module names; the 0.5 became an anonymous constant.
  for (const char* name : {"conv.weight", "conv.bias", "bn.running_mean", "bn.running_var", "prelu.weight",
                           "fc.weight", "features.running_var"}) {
    EXPECT_TRUE(g.is_initializer(name)) << name << "\n" << g.str();
  }
  EXPECT_TRUE(g.is_initializer("const_0")) << g.str();
  EXPECT_EQ(g.initializer("const_0").numel(), 1);
  // The shared conv weight is one initializer read by both conv nodes.
  int readers = 0;
  for (const auto& n : g.nodes)
    for (const auto& in : n.inputs) readers += in == "conv.weight";
  EXPECT_EQ(readers, 2);
  EXPECT_NO_THROW(g.validate());
}

TEST(Tracer, ReplayMatchesForwardAtTheTracedAndAnotherBatch) {
  manual_seed(2);
  TinyNet net;
  testing::randomize_batch_norms(net);
  net.eval();
  Graph g = trace_module(net, "data", randn({1, 3, 5, 5}), "embedding");
  autograd::NoGradGuard no_grad;
  for (int64_t batch : {1, 3}) {
    const Tensor x = randn({batch, 3, 5, 5});
    const Tensor want = net.forward(x);
    const std::vector<Tensor> got = run_graph(g, {{"data", x}});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].sizes(), want.sizes());
    EXPECT_LT(testing::max_rel_diff(got[0], want), 1e-6) << "batch " << batch;
  }
}

TEST(Tracer, OnlyOneTraceAtATime) {
  Tracer outer;
  EXPECT_THROW(Tracer inner, Error);
}

TEST(Tracer, NoRecordingWithoutATrace) {
  EXPECT_FALSE(tracing());
  {
    Tracer t;
    EXPECT_TRUE(tracing());
  }
  EXPECT_FALSE(tracing());
}

TEST(Tracer, RefusesATensorMadeFromAnActivationByAnUntracedOp) {
  Tracer tracer;
  const Tensor x = randn({2, 3});
  tracer.add_input("x", x);
  const Tensor h = relu(x);
  // A raw view built without any op: the tracer cannot know it is h, and must not freeze it.
  const Tensor alias = Tensor::from_storage(h.storage(), {3, 2}, {2, 1}, 0, h.dtype());
  try {
    (void)add(alias, alias);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("without a trace hook"), std::string::npos) << e.what();
  }
}

TEST(Tracer, FinishChecksItsOutputs) {
  Tracer tracer;
  const Tensor x = randn({2, 3});
  tracer.add_input("x", x);
  (void)relu(x);
  EXPECT_THROW(tracer.finish({{"out", randn({2, 3})}}), Error);  // never produced by a traced op
}

TEST(Tracer, OutputThatIsAnInputIsRefused) {
  Tracer tracer;
  const Tensor x = randn({2, 3});
  tracer.add_input("x", x);
  EXPECT_THROW(tracer.finish({{"out", x}}), Error);
}

TEST(Tracer, AnInputNothingReadsIsRefused) {
  Tracer tracer;
  tracer.add_input("x", randn({2, 3}));
  tracer.add_input("unused", randn({2, 3}));
  const Tensor y = relu(randn({2, 3}));  // a constant: the inputs never reach a traced op
  try {
    (void)tracer.finish({{"y", y}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'x' is never read"), std::string::npos) << e.what();
  }
}

TEST(Tracer, SplitRecordsOneNodeWithAllChunks) {
  Tracer tracer;
  const Tensor x = randn({2, 5});
  tracer.add_input("x", x);
  const auto parts = split(x, std::vector<int64_t>{2, 3}, 1);
  const Tensor y = add(sum(parts[0], {1}), sum(parts[1], {1}));
  Graph g = tracer.finish({{"y", y}});
  const auto ops = g.op_histogram();
  EXPECT_EQ(ops.at("split"), 1);
  EXPECT_EQ(ops.count("slice"), 0u) << g.str();  // split's own slicing is internal
  EXPECT_EQ(ops.at("sum"), 2);
  const std::vector<Tensor> got = run_graph(g, {{"x", x}});
  EXPECT_LT(testing::max_rel_diff(got[0], y), 1e-12);
}

TEST(Graph, TypedAttributeErrorsNameTheNode) {
  Node n;
  n.name = "conv2d_7";
  n.op = "conv2d";
  n.attrs["groups"] = int64_t{1};
  try {
    (void)n.attr_ints("groups");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("conv2d_7"), std::string::npos) << msg;
    EXPECT_NE(msg.find("groups"), std::string::npos) << msg;
  }
  EXPECT_THROW((void)n.attr_int("padding"), Error);
}

TEST(Graph, StrListsNodesWithShapes) {
  Tracer tracer;
  const Tensor x = randn({2, 3});
  tracer.add_input("x", x);
  Graph g = tracer.finish({{"y", relu(x)}});
  const std::string s = g.str();
  EXPECT_NE(s.find("input x:float32[2, 3]"), std::string::npos) << s;
  EXPECT_NE(s.find("y:float32[2, 3] = relu(x:float32[2, 3])"), std::string::npos) << s;
}

}  // namespace
}  // namespace ff::graph
