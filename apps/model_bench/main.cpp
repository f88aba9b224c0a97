// model_bench: CPU throughput of whole backbones, printed as a markdown table.
//
//   build/apps/model_bench [--network mbf,r50] [--batch 32] [--threads N] [--repeat 2] [--warmup 1]
//                          [--body-dtype float32|float16|bfloat16] [--breakdown]
//
// For each network, at 3x112x112 inputs:
//   forward     eval mode, no autograd: inference / embedding extraction
//   train step  train mode: forward + loss = mean over the batch of |embedding|^2 (a stand-in for
//               the margin loss, which lives outside the backbone) + backward + SGD step
//               (lr 0.1, momentum 0.9, weight decay 5e-4, as arcface_torch)
// Each time is the best of --repeat timed runs after --warmup untimed ones (best-of filters out
// other processes on a shared machine). GFLOP/s uses the forward cost from
// models::measure_complexity (ptflops' MAC rule, as arcface_torch's flops.py) at 2 FLOPs per MAC,
// and 3x that for a training step (forward, backward to activations, backward to weights).
// --breakdown adds, per network, the eval forward time split by layer kind: each layer of a traced
// forward is re-run alone on a random input of its recorded shape (so the kernels that dominate
// show up, for whoever optimises them). A benchmark, not a test: nothing is asserted.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/command_line.h"
#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "framework/nn/nn.h"
#include "framework/optim/sgd.h"
#include "models/complexity.h"
#include "models/model_factory.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/random.h"

namespace {

using ff::Tensor;

struct Options {
  std::vector<std::string> networks = {"mbf", "r50"};
  int64_t batch = 32;
  int threads = 0;  // 0: keep the runtime's default (OMP_NUM_THREADS)
  int repeat = 2;
  int warmup = 1;
  ff::DType body_dtype = ff::DType::Float32;
  bool breakdown = false;
};

constexpr ff::apps::CommandLineUsage kUsage{
    "model_bench", "CPU forward and training-step throughput of the backbones",
    "usage: model_bench [--network mbf,r50] [--batch 32] [--threads N] [--repeat 2] [--warmup 1]\n"
    "                   [--body-dtype float32|float16|bfloat16] [--breakdown]\n"};

Options parse(int argc, char** argv) {
  Options o;
  const auto take_switch = [&](const std::string& flag) {
    if (flag != "--breakdown") return false;
    o.breakdown = true;
    return true;
  };
  const auto take_value = [&](const std::string& flag, const std::string& value) {
    if (flag == "--network") {
      o.networks = ff::apps::split_commas(value);
    } else if (flag == "--batch") {
      o.batch = std::atoll(value.c_str());
    } else if (flag == "--threads") {
      o.threads = std::atoi(value.c_str());
      if (o.threads < 1) kUsage.fail("--threads takes a positive count");
    } else if (flag == "--repeat") {
      o.repeat = std::atoi(value.c_str());
    } else if (flag == "--warmup") {
      o.warmup = std::atoi(value.c_str());
    } else if (flag == "--body-dtype") {
      o.body_dtype = ff::dtype_from_name(value);
    } else {
      return false;
    }
    return true;
  };
  ff::apps::parse_flags(argc, argv, kUsage, take_switch, take_value);
  if (o.networks.empty()) kUsage.fail("--network needs at least one name");
  if (o.batch < 2) kUsage.fail("--batch must be at least 2 (training-mode BatchNorm needs two samples)");
  if (o.repeat < 1 || o.warmup < 0) kUsage.fail("--repeat must be >= 1 and --warmup >= 0");
  return o;
}

// Best wall time of `repeat` runs of fn, in seconds, after `warmup` untimed runs.
double best_seconds(const std::function<void()>& fn, int warmup, int repeat) {
  for (int i = 0; i < warmup; ++i) fn();
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

void bench(const std::string& network, const Options& o) {
  auto model = ff::models::create_backbone(network, ff::models::BackboneOptions().set_body_dtype(o.body_dtype));
  const double forward_flops_per_image =
      2.0 * static_cast<double>(ff::models::measure_complexity(*model, {1, 3, 112, 112}).total_macs());

  ff::Generator gen(2048);
  const Tensor images = ff::randn({o.batch, 3, 112, 112}, ff::DType::Float32, ff::Device(), &gen);

  model->eval();
  const double forward_s = best_seconds(
      [&] {
        ff::autograd::NoGradGuard no_grad;
        model->forward(images);
      },
      o.warmup, o.repeat);

  model->train();
  ff::optim::SGD sgd(model->parameters(), ff::optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
  const double train_s = best_seconds(
      [&] {
        const Tensor embeddings = model->forward(images);
        const Tensor loss = ff::sum(embeddings * embeddings) / static_cast<double>(o.batch);
        loss.backward();
        sgd.step();
        sgd.zero_grad();
      },
      o.warmup, o.repeat);

  const double n = static_cast<double>(o.batch);
  std::printf("| %s | %s | %lld | %d | %.2f | %.1f | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f |\n", network.c_str(),
              ff::dtype_name(o.body_dtype), static_cast<long long>(o.batch), ff::get_num_threads(),
              forward_flops_per_image / 1e9, 1e3 * forward_s / n, n / forward_s,
              forward_flops_per_image * n / forward_s / 1e9, 3.0 * forward_flops_per_image / 1e9, 1e3 * train_s / n,
              n / train_s, 3.0 * forward_flops_per_image * n / train_s / 1e9);
  std::fflush(stdout);
}

// "Conv2d 3x3 dense", "Conv2d 3x3 depthwise", "BatchNorm2d", ...
std::string layer_kind(const ff::nn::Module& layer) {
  const auto* conv = dynamic_cast<const ff::nn::Conv2d*>(&layer);
  if (conv == nullptr) return layer.name();
  const ff::nn::Conv2dOptions& c = conv->options();
  const char* grouping = c.groups == 1 ? "dense" : c.groups == c.in_channels ? "depthwise" : "grouped";
  return fmt::format("Conv2d {}x{} {}", c.kernel_size[0], c.kernel_size[1], grouping);
}

void breakdown(const std::string& network, const Options& o) {
  auto model = ff::models::create_backbone(network, ff::models::BackboneOptions().set_body_dtype(o.body_dtype));
  const ff::models::Complexity c = ff::models::measure_complexity(*model, {o.batch, 3, 112, 112});
  std::map<std::string, ff::nn::Module*> by_name;
  for (const auto& [path, module] : model->named_modules()) by_name[path] = module;

  struct Kind {
    int calls = 0;
    double seconds = 0.0;
    int64_t macs = 0;
  };
  std::map<std::string, Kind> kinds;
  double total = 0.0;
  model->eval();
  ff::autograd::NoGradGuard no_grad;
  ff::Generator gen(7);
  for (const ff::models::LayerCost& l : c.layers) {
    ff::nn::Module& layer = *by_name.at(l.name);
    const std::vector<Tensor> params = layer.parameters();
    const ff::DType dtype = params.empty() ? ff::DType::Float32 : params.front().dtype();
    const Tensor x = ff::randn(l.input, dtype, ff::Device(), &gen);
    const double s = best_seconds([&] { layer.forward(x); }, o.warmup, o.repeat);
    Kind& k = kinds[layer_kind(layer)];
    k.calls += 1, k.seconds += s, k.macs += l.macs;
    total += s;
  }
  std::printf("\n%s, eval forward of batch %lld by layer kind (%d threads; MACs by ptflops' rule):\n\n", network.c_str(),
              static_cast<long long>(o.batch), ff::get_num_threads());
  std::printf("| layer kind | calls | ms | share | GMAC/s |\n|---|---|---|---|---|\n");
  for (const auto& [name, k] : kinds) {
    std::printf("| %s | %d | %.1f | %.0f%% | %.2f |\n", name.c_str(), k.calls, 1e3 * k.seconds, 100.0 * k.seconds / total,
                static_cast<double>(k.macs) / k.seconds / 1e9);
  }
  std::printf("| all | %zu | %.1f | 100%% | %.2f |\n", c.layers.size(), 1e3 * total,
              static_cast<double>(c.total_macs()) / total / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.threads > 0) ff::set_num_threads(o.threads);
  std::printf(
      "| network | body | batch | threads | fwd GFLOP/img | fwd ms/img | fwd img/s | fwd GFLOP/s | train GFLOP/img | "
      "train ms/img | train img/s | train GFLOP/s |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  try {
    for (const std::string& network : o.networks) bench(network, o);
    if (o.breakdown) {
      for (const std::string& network : o.networks) breakdown(network, o);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
