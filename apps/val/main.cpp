// val: face verification accuracy of a backbone on insightface's validation sets (LFW, CFP-FP,
// AgeDB-30), with the 10-fold protocol of eval/verification.py (apps/common/verification_eval.h).
//
//   build/apps/val --model out/model.safetensors --network r50 --data /data/faces_emore
//   build/apps/val --random-init --network mbf --data out/synth/val --targets lfw --roc-csv roc.csv
//
// Output: a header line with the network, its parameter count, the weights and the device, then
// one table row per target: pairs, Accuracy-Flip +- std, XNorm, best threshold, seconds.
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "apps/common/model_io.h"
#include "apps/common/verification_eval.h"
#include "apps/val/val_args.h"
#include "framework/common/check.h"
#include "framework/core/device.h"
#include "models/model_factory.h"
#include "ops/tensor_ops/random.h"

namespace {

using ff::apps::val::ValArgs;

ff::Device resolve_device(const std::string& name) {
  if (name == "auto") {
    const bool gpu = ff::has_backend(ff::DeviceType::CUDA) && ff::backend_for(ff::DeviceType::CUDA).device_count() > 0;
    return gpu ? ff::Device(ff::DeviceType::CUDA, 0) : ff::Device();
  }
  const ff::Device device = ff::Device::parse(name);
  if (device.is_cuda()) {
    FF_CHECK(ff::has_backend(ff::DeviceType::CUDA), "--device {}: this build has no CUDA backend", name);
    FF_CHECK(device.index < ff::backend_for(ff::DeviceType::CUDA).device_count(), "--device {}: only {} GPU(s) found",
             name, ff::backend_for(ff::DeviceType::CUDA).device_count());
  }
  return device;
}

// The device to evaluate on, made this thread's current device: cuDNN, cuBLAS and the compute
// stream follow the current device, not the tensors' (as apps/train does for its rank's GPU).
ff::Device select_device(const std::string& name) {
  const ff::Device device = resolve_device(name);
  if (device.is_cuda()) ff::backend_for(ff::DeviceType::CUDA).set_current_device(device.index);
  return device;
}

// 65156160 -> "65,156,160".
std::string with_thousands(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::shared_ptr<ff::nn::Module> make_backbone(const ValArgs& a) {
  ff::models::BackboneOptions options;
  options.set_input_size(a.image_size).set_width_divisor(a.width_divisor).set_embedding_size(a.embedding_size);
  if (!a.random_init) return ff::apps::load_backbone(a.model, a.network, options);
  // The generator only has to outlive construction: a backbone has no dropout at eval time.
  ff::Generator generator(a.seed);
  options.set_generator(&generator);
  return ff::models::create_backbone(a.network, options);
}

struct TargetRow {
  std::string name;
  size_t pairs = 0;
  ff::apps::VerificationResult result;
  double seconds = 0;
};

void write_roc_csv(const std::string& path, const std::vector<TargetRow>& rows) {
  std::ofstream out(path);
  FF_CHECK(out.good(), "--roc-csv: cannot open '{}' for writing", path);
  out << "target,threshold,tpr,fpr\n";
  for (const TargetRow& row : rows) {
    const auto& r = row.result;
    for (size_t i = 0; i < r.thresholds.size(); ++i) {
      out << fmt::format("{},{:.2f},{:.6f},{:.6f}\n", row.name, r.thresholds[i], r.tpr[i], r.fpr[i]);
    }
  }
  out.close();
  FF_CHECK(!out.fail(), "--roc-csv: cannot write '{}'", path);
}

int run(const ValArgs& a) {
  // A missing set is reported before minutes are spent loading a large network.
  for (const std::string& name : a.targets) {
    const std::string path = a.data_dir + "/" + name + ".bin";
    FF_CHECK(std::filesystem::is_regular_file(path), "validation set '{}' not found (target '{}' in --data {})", path,
             name, a.data_dir);
  }
  const ff::Device device = select_device(a.device);
  std::shared_ptr<ff::nn::Module> backbone = make_backbone(a);
  backbone->to(device);
  const auto* typed = dynamic_cast<const ff::models::Backbone*>(backbone.get());
  const int64_t embedding_size = typed != nullptr ? typed->embedding_size() : a.embedding_size;
  fmt::print("network: {}  params: {}  embedding: {}  input: {}x{}\n", a.network,
             with_thousands(backbone->num_parameters()), embedding_size, a.image_size, a.image_size);
  fmt::print("weights: {}  device: {}  flip: {}  batch: {}\n",
             a.random_init ? fmt::format("random init (seed {})", a.seed) : a.model, device.str(),
             a.flip ? "yes" : "no", a.batch_size);
  std::fflush(stdout);

  ff::apps::VerificationOptions options;
  options.batch_size = a.batch_size;
  options.flip = a.flip;
  options.device = device;

  const char* accuracy_title = a.flip ? "Accuracy-Flip" : "Accuracy";
  fmt::print("{:<12} {:>6}  {:<19}  {:>9}  {:>9}  {:>8}\n", "target", "pairs", accuracy_title, "XNorm", "threshold",
             "time");
  std::vector<TargetRow> rows;
  for (const std::string& name : a.targets) {
    const auto start = std::chrono::steady_clock::now();
    const std::string path = a.data_dir + "/" + name + ".bin";
    const ff::apps::ValidationTarget target = ff::apps::load_validation_target(path, a.image_size);
    TargetRow row;
    row.name = name;
    row.pairs = target.issame.size();
    row.result = ff::apps::evaluate_backbone(*backbone, target, options);
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // An untrained network can have XNorm far below 1e-5: switch to exponent form rather than
    // print 0.00000.
    const double xnorm = row.result.xnorm;
    const std::string xnorm_text = xnorm != 0 && xnorm < 1e-3 ? fmt::format("{:.3e}", xnorm) : fmt::format("{:.5f}", xnorm);
    fmt::print("{:<12} {:>6}  {:<19}  {:>9}  {:>9.3f}  {:>7.1f}s\n", row.name, row.pairs,
               fmt::format("{:.5f}+-{:.5f}", row.result.accuracy_mean, row.result.accuracy_std), xnorm_text,
               row.result.best_threshold, row.seconds);
    std::fflush(stdout);
    rows.push_back(std::move(row));
  }
  if (!a.roc_csv.empty()) {
    write_roc_csv(a.roc_csv, rows);
    fmt::print("roc: {}\n", a.roc_csv);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ValArgs args;
  try {
    bool help = false;
    args = ff::apps::val::parse_val_args(argc, argv, &help);
    if (help) {
      std::fputs(ff::apps::val::val_usage(), stdout);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "val: %s\n%s", e.what(), ff::apps::val::val_usage());
    return 2;
  }
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "val: error: %s\n", e.what());
    return 1;
  }
}
