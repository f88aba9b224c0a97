// ONNX export rules and writer: what each rule emits for the opset, that the checker accepts the
// result, and that unsupported cases are refused with the node named.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include "framework/graph/passes.h"
#include "framework/graph/trace_module.h"
#include "framework/graph/tracer.h"
#include "framework/onnx/rules.h"
#include "framework/onnx/writer.h"
#include "models/model_factory.h"
#include "ops/activation/activation.h"
#include "ops/conv/conv2d.h"
#include "ops/elementwise/binary.h"
#include "ops/index/index.h"
#include "ops/norm/batch_norm.h"
#include "ops/norm/l2_normalize.h"
#include "ops/reduce/reduce.h"
#include "ops/shape/shape.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace ff::onnx {
namespace {

const OnnxNode* find_op(const OnnxModel& m, const std::string& op_type) {
  for (const auto& n : m.nodes)
    if (n.op_type == op_type) return &n;
  return nullptr;
}

// Traces fn(x) with x = randn(shape) as input "x" and output "y".
template <typename Fn>
graph::Graph trace(const Shape& shape, Fn fn) {
  graph::Tracer tracer;
  const Tensor x = randn(shape);
  tracer.add_input("x", x);
  const Tensor y = fn(x);
  return tracer.finish({{"y", y}});
}

::onnx::ModelProto parse(const OnnxModel& m) {
  ::onnx::ModelProto proto;
  EXPECT_TRUE(proto.ParseFromString(serialize_onnx(m)));
  return proto;
}

TEST(OnnxRules, PreluSlopeBecomesCx1x1) {
  graph::Graph g = trace({2, 4, 3, 3}, [](const Tensor& x) { return prelu(x, full({4}, 0.25)); });
  OnnxModel m = convert_to_onnx(g, {});
  const OnnxNode* p = find_op(m, "PRelu");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(m.initializers.at(p->inputs[1]).sizes(), (Shape{4, 1, 1}));
  EXPECT_EQ(m.initializers.size(), 1u) << "the [4] original is read by nothing and must be dropped";
  (void)parse(m);  // the checker accepts it
}

TEST(OnnxRules, ReduceAxesFollowTheOpset) {
  graph::Graph g = trace({2, 3, 4}, [](const Tensor& x) { return add(sum(x, {1}), mean(x, {1})); });
  for (int opset : {13, 17}) {
    ExportOptions o;
    o.opset = opset;
    OnnxModel m = convert_to_onnx(g, o);
    const OnnxNode* s = find_op(m, "ReduceSum");
    const OnnxNode* r = find_op(m, "ReduceMean");
    ASSERT_TRUE(s && r);
    EXPECT_EQ(s->inputs.size(), 2u) << "ReduceSum takes axes as an input from opset 13";
    EXPECT_EQ(s->attrs.count("axes"), 0u);
    EXPECT_EQ(r->inputs.size(), 1u) << "ReduceMean takes axes as an attribute before opset 18";
    EXPECT_EQ(std::get<std::vector<int64_t>>(r->attrs.at("axes")), (std::vector<int64_t>{1}));
    const auto proto = parse(m);
    EXPECT_EQ(proto.opset_import(0).version(), opset);
    EXPECT_EQ(proto.ir_version(), opset <= 14 ? 7 : 8);
  }
}

TEST(OnnxRules, SplitL2NormalizeAndFlatten) {
  graph::Graph g = trace({2, 6, 2, 2}, [](const Tensor& x) {
    const auto parts = split(x, std::vector<int64_t>{2, 4}, 1);
    return l2_normalize(concat({parts[1], parts[0]}, 1).flatten(1), 1);
  });
  OnnxModel m = convert_to_onnx(g, {});
  const OnnxNode* s = find_op(m, "Split");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->outputs.size(), 2u);
  EXPECT_EQ(m.initializers.at(s->inputs[1]).sizes(), (Shape{2}));
  EXPECT_NE(find_op(m, "Flatten"), nullptr);
  EXPECT_NE(find_op(m, "ReduceL2"), nullptr);
  EXPECT_NE(find_op(m, "Div"), nullptr);
  (void)parse(m);
}

TEST(OnnxRules, DynamicBatchMarksInputAndOutput) {
  graph::Graph g = trace({1, 3, 4, 4}, [](const Tensor& x) { return relu(x).flatten(1); });
  ExportOptions o;
  o.dynamic_batch = true;
  const auto proto = parse(convert_to_onnx(g, o));
  EXPECT_EQ(proto.graph().input(0).name(), "x");
  EXPECT_EQ(proto.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  EXPECT_EQ(proto.graph().input(0).type().tensor_type().shape().dim(1).dim_value(), 3);
  EXPECT_EQ(proto.graph().output(0).type().tensor_type().shape().dim(0).dim_param(), "N");
}

TEST(OnnxRules, TrainingBatchNormIsRefusedNamingTheNode) {
  graph::Graph g = trace({4, 3}, [](const Tensor& x) {
    return batch_norm(x, Tensor(), Tensor(), zeros({3}), ones({3}), /*training=*/true);
  });
  try {
    (void)convert_to_onnx(g, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("batch_norm_0"), std::string::npos) << msg;
    EXPECT_NE(msg.find("eval mode"), std::string::npos) << msg;
  }
}

TEST(OnnxRules, ScatterAddNeedsOpset16) {
  graph::Graph g = trace({3, 4}, [](const Tensor& x) {
    Tensor idx = zeros({1, 4}, DType::Int64);
    return scatter_add(x, 0, idx, ones({1, 4}));
  });
  ExportOptions o;
  o.opset = 15;
  EXPECT_THROW(convert_to_onnx(g, o), Error);
  o.opset = 16;
  OnnxModel m = convert_to_onnx(g, o);
  ASSERT_NE(find_op(m, "ScatterElements"), nullptr);
  (void)parse(m);
}

TEST(OnnxRules, OpWithoutRuleIsNamed) {
  graph::Graph g = trace({2}, [](const Tensor& x) { return relu(x); });
  g.nodes[0].op = "no_such_op";
  EXPECT_THROW(convert_to_onnx(g, {}), Error);
}

TEST(OnnxRules, OpsetOutOfRangeIsRefused) {
  graph::Graph g = trace({2}, [](const Tensor& x) { return relu(x); });
  ExportOptions o;
  o.opset = 12;
  EXPECT_THROW(convert_to_onnx(g, o), Error);
  o.opset = 18;
  EXPECT_THROW(convert_to_onnx(g, o), Error);
}

TEST(OnnxWriter, CheckerRejectsABrokenModel) {
  graph::Graph g = trace({2}, [](const Tensor& x) { return relu(x); });
  OnnxModel m = convert_to_onnx(g, {});
  m.nodes[0].inputs[0] = "missing_value";
  EXPECT_THROW(serialize_onnx(m), Error);
}

// The shrunk backbones export with the arcface_torch op set and pass the checker.
TEST(OnnxExport, BackbonesUseTheExpectedOps) {
  for (const char* name : {"r18", "mbf"}) {
    manual_seed(7);
    auto model = models::create_backbone(name, models::BackboneOptions().set_width_divisor(8).set_input_size(32));
    model->eval();
    graph::Graph g = graph::trace_module(*model, "data", randn({1, 3, 32, 32}), "embedding");
    graph::run_inference_passes(g, graph::PassOptions{true});
    ExportOptions o;
    o.dynamic_batch = true;
    OnnxModel m = convert_to_onnx(g, o);
    const auto ops = m.op_histogram();
    EXPECT_GT(ops.at("Conv"), 0) << name;
    EXPECT_GT(ops.at("PRelu"), 0) << name;
    EXPECT_EQ(ops.at("Flatten"), 1) << name;
    EXPECT_EQ(ops.at("Gemm"), 1) << name;
    EXPECT_EQ(ops.count("Identity"), 0u) << name;
    (void)parse(m);
  }
}

}  // namespace
}  // namespace ff::onnx
