// model_info: size and cost of a backbone, the numbers arcface_torch's flops.py prints.
//
//   build/apps/model_info --network r100            one network
//   build/apps/model_info --network all             all seven
//   build/apps/model_info --network r50 --per-layer every layer's shapes and MACs
//   build/apps/model_info --network r100 --weights model.safetensors
//                                                   also strict-load a weights file (e.g. from
//                                                   tools/pt_to_safetensors.py) into the model
//
// Output per network (one "key: value" per line):
//   params: <integer>        every parameter element, the frozen features.weight included
//   size_mib: <number>       params x 4 bytes / 2^20 (float32 weights)
//   gmacs: <number>          forward multiply-accumulates at 1x3x112x112 / 1e9, ptflops' rule
// The MACs come from one traced forward of a zero 1x3x112x112 input (models/complexity.h).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "apps/common/command_line.h"
#include "framework/common/check.h"
#include "framework/io/safetensors.h"
#include "models/backbone.h"
#include "models/complexity.h"
#include "models/model_factory.h"

namespace {

struct Options {
  std::vector<std::string> networks;
  int64_t embedding_size = 512;
  bool per_layer = false;
  std::string weights;
};

constexpr ff::apps::CommandLineUsage kUsage{
    "model_info", "backbone parameters, size and MACs",
    "usage: model_info --network NAME|all [--embedding-size N] [--per-layer] [--weights FILE.safetensors]\n"
    "  NAME: r18 r34 r50 r100 r200 mbf mbf_large\n"
    "Prints params (all parameter elements, frozen ones included), size_mib (float32) and gmacs:\n"
    "forward multiply-accumulates for one 3x112x112 image, counted like ptflops' module hooks\n"
    "(the tool behind arcface_torch's flops.py, whose README calls these numbers GFLOPs):\n"
    "  conv: N*Hout*Wout*kH*kW*Cin*Cout/groups; linear: numel(in)*out (+out with bias);\n"
    "  BatchNorm: 2*numel(in); PReLU: numel(out); additions, flatten, dropout: 0.\n"
    "gmacs_conv_linear is conv + linear only (ptflops' aten backend). FLOPs ~ 2 x MACs.\n"};

Options parse(int argc, char** argv) {
  Options o;
  const auto take_switch = [&](const std::string& flag) {
    if (flag != "--per-layer") return false;
    o.per_layer = true;
    return true;
  };
  const auto take_value = [&](const std::string& flag, const std::string& value) {
    if (flag == "--network") {
      if (value == "all") {
        o.networks = ff::models::backbone_names();
      } else {
        o.networks = {value};
      }
    } else if (flag == "--embedding-size") {
      o.embedding_size = std::atoll(value.c_str());
      if (o.embedding_size <= 0) kUsage.fail("--embedding-size takes a positive integer");
    } else if (flag == "--weights") {
      o.weights = value;
    } else {
      return false;
    }
    return true;
  };
  ff::apps::parse_flags(argc, argv, kUsage, take_switch, take_value);
  if (o.networks.empty()) kUsage.fail("--network is required");
  if (!o.weights.empty() && o.networks.size() != 1) kUsage.fail("--weights needs a single --network");
  return o;
}

void report(const std::string& network, const Options& o) {
  auto model = ff::models::create_backbone(network, ff::models::BackboneOptions().set_embedding_size(o.embedding_size));
  if (!o.weights.empty()) {
    const ff::SafetensorsContents file = ff::load_safetensors(o.weights);
    model->load_state_dict(file.tensors, /*strict=*/true);
    std::printf("weights: %s (%zu tensors, strict load ok)\n", o.weights.c_str(), file.tensors.size());
  }
  const ff::models::Complexity c = ff::models::measure_complexity(*model, {1, 3, 112, 112});
  const double giga = 1e9;
  std::printf("network: %s\n", network.c_str());
  std::printf("params: %lld\n", static_cast<long long>(c.parameters));
  std::printf("trainable_params: %lld\n", static_cast<long long>(c.trainable_parameters));
  std::printf("size_mib: %.2f\n", static_cast<double>(c.parameters) * 4.0 / (1024.0 * 1024.0));
  std::printf("gmacs: %.4f\n", static_cast<double>(c.total_macs()) / giga);
  std::printf("gmacs_conv_linear: %.4f\n", static_cast<double>(c.conv_linear_macs()) / giga);
  std::printf("gmacs_by_kind: conv %.4f, linear %.4f, batch_norm %.4f, prelu %.4f\n", c.conv_macs / giga,
              c.linear_macs / giga, c.batch_norm_macs / giga, c.activation_macs / giga);
  if (o.per_layer) {
    std::printf("%-48s %-12s %-22s %-22s %14s\n", "layer", "type", "input", "output", "macs");
    for (const ff::models::LayerCost& l : c.layers) {
      std::printf("%-48s %-12s %-22s %-22s %14lld\n", l.name.c_str(), l.type.c_str(), ff::shape_str(l.input).c_str(),
                  ff::shape_str(l.output).c_str(), static_cast<long long>(l.macs));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    for (size_t i = 0; i < o.networks.size(); ++i) {
      if (i > 0) std::printf("\n");
      report(o.networks[i], o);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_info: %s\n", e.what());
    return 1;
  }
  return 0;
}
