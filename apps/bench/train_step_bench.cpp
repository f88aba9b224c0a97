// The whole-training-step benchmark (see train_step_bench.h for what one step contains).
#include "apps/bench/train_step_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "apps/bench/device_timer.h"
#include "apps/common/trainer_precision.h"
#include "framework/amp/grad_scaler.h"
#include "framework/common/check.h"
#include "framework/distributed/communicator.h"
#include "framework/optim/clip_grad.h"
#include "framework/optim/sgd.h"
#include "models/backbone.h"
#include "models/complexity.h"
#include "models/heads/margin_heads.h"
#include "models/heads/partial_fc.h"
#include "models/heads/sparse_row_sgd.h"
#include "models/model_factory.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

#ifdef FF_WITH_CUDA
#include "framework/cuda/caching_allocator.h"
#endif

namespace ff::bench {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr int kMaxScaleSearchSteps = 16;
constexpr double kClipNorm = 5.0;  // arcface_torch: clip_grad_norm_(backbone.parameters(), max_norm=5)

DType body_dtype_of(const std::string& precision) {
  check_precision_name(precision);
  if (precision == "fp16") return DType::Float16;
  if (precision == "bf16") return DType::BFloat16;
  return DType::Float32;
}

struct MemoryPeaks {
  bool known = false;
  double allocated_mib = 0.0;
  double reserved_mib = 0.0;
};

// Returns the cache of earlier configurations to the driver, so that "reserved" is this one's.
void release_cached_memory(const Device& device) {
#ifdef FF_WITH_CUDA
  if (device.is_cuda()) cuda::empty_cache();
#endif
  (void)device;
}

void reset_memory_peaks(const Device& device) {
#ifdef FF_WITH_CUDA
  if (device.is_cuda()) cuda::reset_peak_stats(device.index);
#endif
  (void)device;
}

MemoryPeaks memory_peaks(const Device& device) {
#ifdef FF_WITH_CUDA
  if (device.is_cuda()) {
    const cuda::AllocatorStats s = cuda::allocator_stats(device.index);
    return {true, static_cast<double>(s.peak_allocated_bytes) / kMiB, static_cast<double>(s.peak_reserved_bytes) / kMiB};
  }
#endif
  (void)device;
  return {};
}

struct StepResult {
  double median_ms = 0.0;
  double wall_ms = 0.0;  // timed loop / iters
  double forward_macs_per_image = 0.0;
  MemoryPeaks memory;
  double last_loss = 0.0;
  int skipped_steps = 0;  // fp16 steps the GradScaler skipped for inf/NaN gradients
};

StepResult bench_one(const std::string& network, const std::string& precision, const TrainStepOptions& o) {
  const DType body_dtype = body_dtype_of(precision);
  release_cached_memory(o.device);
  auto model = models::create_backbone(network, models::BackboneOptions().set_body_dtype(body_dtype));
  model->to(o.device);
  model->train();
  StepResult r;
  r.forward_macs_per_image =
      static_cast<double>(models::measure_complexity(*model, {1, 3, 112, 112}).total_macs());

  auto comm = distributed::create_communicator("single");
  heads::PartialFCOptions fc;
  fc.num_classes = o.classes;
  fc.embedding_size = 512;
  fc.sample_rate = 1.0;
  fc.margin = heads::arcface();
  fc.device = o.device;
  auto pfc = std::make_shared<heads::PartialFC>(fc, *comm);

  // arcface_torch: one SGD over [backbone, pfc] with lr 0.1, momentum 0.9, weight decay 5e-4.
  // Two optimizers here because the GradScaler unscales dense gradients only: the centres'
  // gradient arrives as sparse rows, so their source divides by the scale itself, and they step
  // exactly when the backbone does (an inf/NaN anywhere reaches the embeddings' gradient too).
  const optim::SGDOptions sgd = optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4);
  // As apps/train does (apps/common/trainer_precision.h): the optimizer updates float32 master
  // copies of the 16-bit body parameters, the counterpart of PyTorch's autocast, which keeps
  // float32 parameters. In fp32 the parameters are their own masters (nothing is copied).
  apps::MasterWeights master(model->named_parameters());
  const std::vector<Tensor>& backbone_params = master.params();
  optim::SGD backbone_opt(backbone_params, sgd);
  heads::SparseRowSGD fc_opt(pfc->parameters(), sgd);
  amp::GradScaler scaler(amp::GradScalerOptions().enabled(body_dtype == DType::Float16));
  fc_opt.set_sparse_grad_source(
      pfc->weight,
      [&] {
        heads::SparseRows rows = pfc->sparse_grad();
        if (rows.defined() && scaler.get_scale() != 1.0) rows.values = rows.values * (1.0 / scaler.get_scale());
        return rows;
      },
      [&] { pfc->clear_sparse_grad(); });

  Generator gen(2048);
  const Tensor images = randn({o.batch, 3, 112, 112}, DType::Float32, o.device, &gen);
  std::vector<int64_t> label_values(static_cast<size_t>(o.batch));
  for (int64_t i = 0; i < o.batch; ++i) label_values[static_cast<size_t>(i)] = (i * 7919 + 13) % o.classes;
  // On the host, as apps/train hands them to Partial FC (the loader's Batch::host_labels): its
  // class sampling runs on the host.
  const Tensor labels = tensor_from(label_values, {o.batch});

  Tensor loss;
  auto step = [&] {  // returns whether the parameters were updated
    loss = pfc->forward(model->forward(images), labels);
    scaler.scale(loss).backward();
    master.grads_to_master();
    scaler.unscale_(backbone_opt);
    optim::clip_grad_norm_(backbone_params, kClipNorm);
    const bool updated = scaler.step(backbone_opt);
    if (updated) {
      fc_opt.step();
      master.master_to_model();
    } else {
      pfc->clear_sparse_grad();
      ++r.skipped_steps;
    }
    scaler.update();
    master.zero_grad();
    fc_opt.zero_grad();
    return updated;
  };

  bool updated = true;
  for (int i = 0; i < o.warmup; ++i) updated = step();
  // fp16: the GradScaler starts at 2^16 and halves on every overflowing step, skipping its update;
  // the warm-up goes on until a step updates (at most kMaxScaleSearchSteps more), so that the
  // timed steps are real updates, as in a long run. scripts/bench_torch_step.py does the same.
  for (int extra = 0; extra < kMaxScaleSearchSteps && !updated; ++extra) updated = step();
  r.skipped_steps = 0;
  synchronize(o.device);
  reset_memory_peaks(o.device);

  DeviceTimer timer(o.device, o.iters);
  const auto wall_start = std::chrono::steady_clock::now();
  for (int i = 0; i < o.iters; ++i) {
    timer.start(i);
    step();
    timer.stop(i);
  }
  synchronize(o.device);
  r.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall_start).count() / o.iters;
  r.median_ms = median(timer.milliseconds());
  r.memory = memory_peaks(o.device);
  r.last_loss = loss.item<double>();
  FF_CHECK(std::isfinite(r.last_loss), "{} {}: the loss of the last timed step is {}", network, precision, r.last_loss);
  return r;
}

std::string mib_or_na(const MemoryPeaks& m, double value) {
  if (!m.known) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", value);
  return buf;
}

}  // namespace

void check_precision_name(const std::string& name) {
  FF_CHECK(name == "fp32" || name == "fp16" || name == "bf16", "unknown precision '{}': expected fp32, fp16 or bf16",
           name);
}

int run_train_step_bench(const TrainStepOptions& o) {
  FF_CHECK(o.batch >= 2, "--batch must be at least 2 (training-mode BatchNorm needs two samples), got {}", o.batch);
  FF_CHECK(o.classes >= 1, "--classes must be at least 1, got {}", o.classes);
  FF_CHECK(o.iters >= 1 && o.warmup >= 0, "--iters must be >= 1 and --warmup >= 0, got {} and {}", o.iters, o.warmup);
  for (const std::string& p : o.precisions) check_precision_name(p);
  for (const std::string& n : o.networks) {
    const auto& names = models::backbone_names();
    if (std::find(names.begin(), names.end(), n) == names.end()) {
      std::string valid;
      for (const std::string& name : names) valid += (valid.empty() ? "" : ", ") + name;
      FF_THROW("unknown network '{}': expected one of {}", n, valid);
    }
  }
  check_device_usable(o.device);

  std::printf("\n## Training step on %s: backbone + PartialFC (%lld classes, sample rate 1, ArcFace) + "
              "clip 5 + SGD\n\n",
              o.device.str().c_str(), static_cast<long long>(o.classes));
  std::printf("median of %d timed steps after %d warm-up steps; peak memory from the caching allocator, reset "
              "after the warm-up.\n\n",
              o.iters, o.warmup);
  std::printf("| framework | network | precision | batch | ms/step (median) | images/s | wall ms/step | TFLOP/s | "
              "peak allocated MiB | peak reserved MiB | last loss |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  int failures = 0;
  for (const std::string& network : o.networks) {
    for (const std::string& precision : o.precisions) {
      try {
        const StepResult r = bench_one(network, precision, o);
        const double images_per_s = static_cast<double>(o.batch) / (r.median_ms / 1e3);
        const double tflops = 3.0 * 2.0 * r.forward_macs_per_image * images_per_s / 1e12;
        std::string loss = fmt::format("{:.4f}", r.last_loss);
        if (r.skipped_steps > 0) loss += " (" + std::to_string(r.skipped_steps) + " skipped)";
        std::printf("| faceflow | %s | %s | %lld | %.2f | %.1f | %.2f | %.2f | %s | %s | %s |\n", network.c_str(),
                    precision.c_str(), static_cast<long long>(o.batch), r.median_ms, images_per_s, r.wall_ms, tflops,
                    mib_or_na(r.memory, r.memory.allocated_mib).c_str(),
                    mib_or_na(r.memory, r.memory.reserved_mib).c_str(), loss.c_str());
      } catch (const std::exception& e) {
        ++failures;
        std::string what = e.what();
        std::replace(what.begin(), what.end(), '\n', ' ');
        std::replace(what.begin(), what.end(), '|', '/');
        std::printf("| faceflow | %s | %s | %lld | FAILED: %s | | | | | | |\n", network.c_str(), precision.c_str(),
                    static_cast<long long>(o.batch), what.c_str());
      }
      std::fflush(stdout);
    }
  }
  return failures;
}

}  // namespace ff::bench
