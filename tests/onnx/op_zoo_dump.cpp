// op_zoo_dump OUT_DIR OPSET: writes OUT_DIR/op_zoo_opset<N>.onnx (the model of op_zoo.h,
// after the inference passes) and its reference input/output as op_zoo_in.npy / op_zoo_out.npy,
// for check_with_onnxruntime.py.
#include <cstdio>
#include <exception>
#include <string>

#include "apps/onnx_export/npy.h"
#include "framework/autograd/autograd.h"
#include "framework/graph/passes.h"
#include "framework/graph/tracer.h"
#include "framework/onnx/rules.h"
#include "framework/onnx/writer.h"
#include "tests/onnx/op_zoo.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: op_zoo_dump OUT_DIR OPSET\n");
    return 2;
  }
  try {
    const std::string dir = argv[1];
    const int opset = std::stoi(argv[2]);
    ff::autograd::NoGradGuard no_grad;
    const ff::onnx::testing::OpZooConstants k;
    ff::Generator gen(3);
    const ff::Tensor x = ff::randn({2, 4, 6, 6}, ff::DType::Float32, ff::Device(), &gen);
    ff::graph::Tracer tracer;
    tracer.add_input("x", x);
    const ff::Tensor y = ff::onnx::testing::op_zoo(x, k);
    ff::graph::Graph g = tracer.finish({{"y", y}});
    ff::graph::run_inference_passes(g, ff::graph::PassOptions{true});
    ff::onnx::ExportOptions o;
    o.opset = opset;
    const std::string path = dir + "/op_zoo_opset" + std::to_string(opset) + ".onnx";
    ff::onnx::write_onnx(ff::onnx::convert_to_onnx(g, o), path);
    ff::apps::write_npy_float32(dir + "/op_zoo_in.npy", x);
    ff::apps::write_npy_float32(dir + "/op_zoo_out.npy", y);
    std::printf("wrote %s (%zu nodes)\n", path.c_str(), g.nodes.size());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "op_zoo_dump: error: %s\n", e.what());
    return 1;
  }
}
