// onnx_export: traces a backbone and writes it as an ONNX model (docs/export.md).
//
//   build/apps/onnx_export --model model.safetensors --network r50 --output model.onnx
//                          [--opset 13..17] [--dynamic-batch] [--fold-bn]
//
// The model is loaded in eval mode (float32, CPU), traced on a 1x3x112x112 input named "data",
// cleaned by the inference passes (dropout and identity removal, dead code, optional BN
// folding), translated by the ONNX rules, checked by onnx::checker and written. The output is
// named "embedding". Prints the node count per ONNX op type, the initializer bytes and the path.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "apps/common/model_io.h"
#include "apps/onnx_export/debug_weights.h"
#include "apps/onnx_export/npy.h"
#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "framework/graph/passes.h"
#include "framework/graph/trace_module.h"
#include "framework/onnx/rules.h"
#include "framework/onnx/writer.h"
#include "models/backbone.h"
#include "models/model_factory.h"
#include "ops/tensor_ops/random.h"

namespace {

struct Options {
  std::string model, network, output;
  int opset = ff::onnx::kMaxOpset;
  bool dynamic_batch = false, fold_bn = false;
  bool random_init = false, randomize_bn_stats = false, print_graph = false;
  uint64_t seed = 1;
  int64_t embedding_size = 512;
  std::string reference_in, reference_out;
  int64_t reference_batch = 2;
};

[[noreturn]] void usage(const std::string& why, int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "onnx_export: %s\n"
               "usage: onnx_export --model FILE.safetensors --network NAME --output model.onnx\n"
               "                   [--opset 13..17] [--dynamic-batch] [--fold-bn]\n"
               "  --network NAME      r18 r34 r50 r100 r200 mbf mbf_large\n"
               "  --opset N           ai.onnx opset, 13..17 (default 17)\n"
               "  --dynamic-batch     batch dim of \"data\" and \"embedding\" is the symbol N (default: 1)\n"
               "  --fold-bn           fold BatchNorm into the preceding Conv / Gemm\n"
               "  --embedding-size N  embedding length of the network (default 512)\n"
               "  --print-graph       print the traced graph after the passes\n"
               "testing and debugging (not for real exports):\n"
               "  --random-init       no --model: export freshly initialised weights\n"
               "  --randomize-bn-stats  draw BatchNorm running stats and affine params at random\n"
               "  --seed N            seed for --random-init / --randomize-bn-stats / the reference input\n"
               "  --dump-reference IN.npy OUT.npy  write a random input batch and FaceFlow's output for it\n"
               "  --reference-batch N batch of that input (default 2)\n",
               why.c_str());
  std::exit(code);
}

int64_t parse_int(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  const long long v = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0') usage(flag + " takes an integer, got '" + value + "'", 2);
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + flag, 2);
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") usage("trace a backbone and write it as ONNX", 0);
    else if (flag == "--dynamic-batch") o.dynamic_batch = true;
    else if (flag == "--fold-bn") o.fold_bn = true;
    else if (flag == "--random-init") o.random_init = true;
    else if (flag == "--randomize-bn-stats") o.randomize_bn_stats = true;
    else if (flag == "--print-graph") o.print_graph = true;
    else if (flag == "--model") o.model = value();
    else if (flag == "--network") o.network = value();
    else if (flag == "--output") o.output = value();
    else if (flag == "--opset") o.opset = static_cast<int>(parse_int(flag, value()));
    else if (flag == "--seed") o.seed = static_cast<uint64_t>(parse_int(flag, value()));
    else if (flag == "--embedding-size") o.embedding_size = parse_int(flag, value());
    else if (flag == "--reference-batch") o.reference_batch = parse_int(flag, value());
    else if (flag == "--dump-reference") {
      o.reference_in = value();
      o.reference_out = value();
    } else {
      usage("unknown option " + flag, 2);
    }
  }
  if (o.network.empty()) usage("--network is required", 2);
  if (o.output.empty()) usage("--output is required", 2);
  if (o.model.empty() == !o.random_init) usage("give exactly one of --model FILE and --random-init", 2);
  if (o.opset < ff::onnx::kMinOpset || o.opset > ff::onnx::kMaxOpset)
    usage("--opset must lie in 13..17, got " + std::to_string(o.opset), 2);
  if (o.embedding_size <= 0) usage("--embedding-size must be positive", 2);
  if (o.reference_batch <= 0) usage("--reference-batch must be positive", 2);
  return o;
}

std::shared_ptr<ff::models::Backbone> make_model(const Options& o) {
  const auto options = ff::models::BackboneOptions().set_embedding_size(o.embedding_size);
  // A trained model is exported at the input size it was trained at (from the file's metadata).
  if (!o.random_init) {
    return ff::apps::load_backbone(o.model, o.network, ff::models::BackboneOptions(options).set_input_size(0));
  }
  ff::manual_seed(o.seed);
  auto model = std::dynamic_pointer_cast<ff::models::Backbone>(ff::models::create_backbone(o.network, options));
  FF_CHECK(model != nullptr, "network '{}' is not a backbone", o.network);
  return model;
}

int run(const Options& o) {
  auto model = make_model(o);
  if (o.randomize_bn_stats) {
    const int n = ff::apps::randomize_batch_norm_statistics(*model, o.seed + 1);
    std::printf("randomized BatchNorm statistics: %d layers\n", n);
  }
  model->eval();
  const int64_t side = model->options().input_size;

  ff::Generator input_gen(o.seed + 2);
  ff::graph::Graph g = ff::graph::trace_module(*model, "data", ff::randn({1, 3, side, side}, ff::DType::Float32,
                                                                          ff::Device(), &input_gen),
                                               "embedding");
  const size_t traced_nodes = g.nodes.size();
  ff::graph::run_inference_passes(g, ff::graph::PassOptions{o.fold_bn});
  if (o.print_graph) std::printf("%s", g.str().c_str());

  ff::onnx::ExportOptions eo;
  eo.opset = o.opset;
  eo.dynamic_batch = o.dynamic_batch;
  const ff::onnx::OnnxModel onnx_model = ff::onnx::convert_to_onnx(g, eo);
  const size_t bytes = ff::onnx::write_onnx(onnx_model, o.output);

  std::printf("network: %s  opset: %d  dynamic_batch: %s  fold_bn: %s\n", o.network.c_str(), o.opset,
              o.dynamic_batch ? "yes" : "no", o.fold_bn ? "yes" : "no");
  std::printf("graph: %zu traced nodes, %zu after passes\n", traced_nodes, g.nodes.size());
  int total = 0;
  for (const auto& [op, count] : onnx_model.op_histogram()) {
    std::printf("  %-20s %d\n", op.c_str(), count);
    total += count;
  }
  std::printf("onnx nodes: %d\n", total);
  std::printf("initializers: %zu (%lld bytes)\n", onnx_model.initializers.size(),
              static_cast<long long>(onnx_model.initializer_bytes()));
  std::printf("onnx checker: ok\n");
  std::printf("wrote %s (%zu bytes)\n", o.output.c_str(), bytes);

  if (!o.reference_in.empty()) {
    ff::autograd::NoGradGuard no_grad;
    const ff::Tensor x =
        ff::randn({o.reference_batch, 3, side, side}, ff::DType::Float32, ff::Device(), &input_gen);
    const ff::Tensor y = model->forward(x);
    ff::apps::write_npy_float32(o.reference_in, x);
    ff::apps::write_npy_float32(o.reference_out, y);
    std::printf("wrote reference %s %s and %s %s\n", o.reference_in.c_str(), ff::shape_str(x.sizes()).c_str(),
                o.reference_out.c_str(), ff::shape_str(y.sizes()).c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "onnx_export: error: %s\n", e.what());
    return 1;
  }
}
