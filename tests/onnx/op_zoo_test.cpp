// Every exportable op in one traced model: the trace covers them, the replay matches the direct
// computation, and the export passes the ONNX checker (numerics: check_with_onnxruntime.py).
#include <gtest/gtest.h>

#include <set>

#include "framework/dispatch/registry.h"
#include "framework/graph/interpreter.h"
#include "framework/graph/passes.h"
#include "framework/graph/tracer.h"
#include "framework/onnx/rules.h"
#include "framework/onnx/writer.h"
#include "tests/onnx/op_zoo.h"

namespace ff::onnx {
namespace {

graph::Graph trace_zoo(const Tensor& x, const testing::OpZooConstants& k, Tensor* out) {
  graph::Tracer tracer;
  tracer.add_input("x", x);
  *out = testing::op_zoo(x, k);
  return tracer.finish({{"y", *out}});
}

TEST(OpZoo, TraceCoversEveryExportableOp) {
  const testing::OpZooConstants k;
  Tensor direct;
  const graph::Graph g = trace_zoo(randn({2, 4, 6, 6}), k, &direct);
  const auto ops = g.op_histogram();
  const auto& reg = dispatch::Registry::instance();
  for (const auto& name : reg.op_names()) {
    if (!reg.op(name).info.onnx_exportable) continue;
    if (name == "dropout") continue;  // an eval-mode dropout returns its input: no node to trace
    EXPECT_TRUE(ops.count(name)) << "exportable op '" << name << "' is missing from tests/onnx/op_zoo.h";
  }
}

TEST(OpZoo, ReplayMatchesDirect) {
  const testing::OpZooConstants k;
  const Tensor x = randn({2, 4, 6, 6});
  Tensor direct;
  graph::Graph g = trace_zoo(x, k, &direct);
  const Tensor replayed = graph::run_graph(g, {{"x", x}}).at(0);
  ASSERT_EQ(replayed.sizes(), direct.sizes());
  const Tensor d = replayed.contiguous(), e = direct.contiguous();
  for (int64_t i = 0; i < d.numel(); ++i) ASSERT_EQ(d.data<float>()[i], e.data<float>()[i]) << "element " << i;
  graph::run_inference_passes(g, graph::PassOptions{true});
  const Tensor after = graph::run_graph(g, {{"x", x}}).at(0).contiguous();
  for (int64_t i = 0; i < d.numel(); ++i) ASSERT_NEAR(after.data<float>()[i], e.data<float>()[i], 1e-4) << i;
}

TEST(OpZoo, ExportsAtOpsets16And17AndRefuses13) {
  const testing::OpZooConstants k;
  Tensor direct;
  graph::Graph g = trace_zoo(randn({2, 4, 6, 6}), k, &direct);
  graph::run_inference_passes(g, graph::PassOptions{false});
  for (int opset : {16, 17}) {
    ExportOptions o;
    o.opset = opset;
    const OnnxModel m = convert_to_onnx(g, o);
    EXPECT_NO_THROW(serialize_onnx(m)) << "opset " << opset;
  }
  ExportOptions o13;
  o13.opset = 13;
  try {
    (void)convert_to_onnx(g, o13);
    FAIL() << "scatter_add should be refused at opset 13";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scatter_add"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ff::onnx
