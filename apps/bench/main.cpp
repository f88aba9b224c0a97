// bench: CPU throughput of FaceFlow's GEMM and conv2d kernels, and the time of a whole training
// step on the CPU or a GPU, printed as markdown tables.
//
//   build/apps/bench [--only gemm|conv|all] [--threads 1,2] [--repeat N] [--warmup N]
//                    [--batch N] [--net iresnet|mbf|all] [--filter LAYER-NAME-PART]
//   build/apps/bench --only train [--device cuda[:i]|cpu] [--network r100,mbf] [--precision fp32,fp16,bf16]
//                    [--batch 128] [--classes 93431] [--warmup 3] [--iters 10]
//   build/apps/bench --only gpu [--device cuda[:i]|cpu] [--precision fp32,fp16,bf16] [--batch 128]
//                    [--classes 93431] [--warmup 2] [--iters 10]
//
// (a) GEMM: ff::matmul / ff::linear against cblas_sgemm called directly on the same buffers
//     (the machine's OpenBLAS peak), square and face-recognition shapes.
// (b) conv2d: forward and forward+backward of every distinct conv layer shape of IResNet and
//     MobileFaceNet (112x112 input), with how often each shape occurs in r100 / mbf, and the
//     resulting conv time of one whole network pass.
//
// Every time is the best of --repeat timed runs after --warmup untimed ones: best-of filters out
// interference from other processes on a shared machine.
// (c) train (only with --only train): backbone + Partial FC + optimizer step per network and
//     precision (train_step_bench.h).
// (d) gpu (only with --only gpu): GEMM, conv2d and margin-head kernels on a device, in each
//     precision (kernel_bench.h). (c) and (d) run on the CPU too (--device cpu), for checking.
// A benchmark, not a test: nothing is asserted. See docs/benchmarks.md for results.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "apps/bench/bench_shapes.h"
#include "apps/bench/conv_layer_timing.h"
#include "apps/bench/kernel_bench.h"
#include "apps/bench/train_step_bench.h"
#include "apps/common/command_line.h"
#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "ops/conv/conv2d.h"
#include "ops/linalg/matmul.h"
#include "ops/tensor_ops/random.h"

namespace {

using ff::Shape;
using ff::Tensor;
using ff::bench::ConvLayer;
using ff::bench::GemmCase;
using ff::bench::kGemmCases;
using ff::bench::kIResNet;
using ff::bench::kMobileFaceNet;

struct Options {
  std::string only = "all";  // gemm | conv | all | train | gpu
  std::string net = "all";   // iresnet | mbf | all
  std::string filter;        // only conv layers whose name contains this
  std::vector<int> threads = {1, 2};
  int repeat = 3;
  int warmup = 1;
  int64_t batch = 32;
  // --only train: its own defaults (batch 128, warm-up 3) unless --batch / --warmup are given.
  ff::bench::TrainStepOptions train;
  bool batch_given = false, warmup_given = false, device_given = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "bench: %s\n"
               "usage: bench [--only gemm|conv|all] [--threads 1,2] [--repeat N] [--warmup N] [--batch N]\n"
               "             [--net iresnet|mbf|all] [--filter LAYER-NAME-PART]\n"
               "       bench --only train [--device cuda[:i]|cpu] [--network r100,mbf] [--precision fp32,fp16,bf16]\n"
               "             [--batch 128] [--classes 93431] [--warmup 3] [--iters 10]\n"
               "             (whole training step on a GPU or the CPU: images/s and peak memory)\n"
               "       bench --only gpu [--device cuda[:i]|cpu] [--precision fp32,fp16,bf16] [--batch 128]\n"
               "             [--classes 93431] [--warmup 2] [--iters 10]\n"
               "             (GEMM, conv2d and margin kernels on a GPU or the CPU)\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") usage("CPU GEMM and conv2d benchmark; CPU/GPU training-step benchmark");
    if (i + 1 >= argc) usage(("missing value for " + flag).c_str());
    const std::string value = argv[++i];
    if (flag == "--only") {
      o.only = value;
      if (o.only != "gemm" && o.only != "conv" && o.only != "all" && o.only != "train" && o.only != "gpu") {
        usage("--only takes gemm, conv, all, train or gpu");
      }
    } else if (flag == "--device") {
      try {
        o.train.device = ff::Device::parse(value);
        o.device_given = true;
      } catch (const std::exception& e) {
        usage(e.what());
      }
    } else if (flag == "--network") {
      o.train.networks = ff::apps::split_commas(value);
      if (o.train.networks.empty()) usage("--network takes a comma-separated list such as r100,mbf");
    } else if (flag == "--precision") {
      o.train.precisions = ff::apps::split_commas(value);
      if (o.train.precisions.empty()) usage("--precision takes a comma-separated list of fp32, fp16, bf16");
      for (const std::string& p : o.train.precisions) {
        if (p != "fp32" && p != "fp16" && p != "bf16") usage(("unknown precision " + p + " (fp32, fp16, bf16)").c_str());
      }
    } else if (flag == "--classes") {
      o.train.classes = std::atoll(value.c_str());
      if (o.train.classes < 1) usage("--classes must be >= 1");
    } else if (flag == "--iters") {
      o.train.iters = std::atoi(value.c_str());
      if (o.train.iters < 1) usage("--iters must be >= 1");
    } else if (flag == "--net") {
      o.net = value;
      if (o.net != "iresnet" && o.net != "mbf" && o.net != "all") usage("--net takes iresnet, mbf or all");
    } else if (flag == "--threads") {
      o.threads.clear();
      for (size_t start = 0; start <= value.size();) {
        const size_t comma = std::min(value.find(',', start), value.size());
        const int t = std::atoi(value.substr(start, comma - start).c_str());
        if (t < 1) usage("--threads takes a comma-separated list of positive counts");
        o.threads.push_back(t);
        start = comma + 1;
      }
    } else if (flag == "--filter") {
      o.filter = value;
    } else if (flag == "--repeat") {
      o.repeat = std::atoi(value.c_str());
      if (o.repeat < 1) usage("--repeat must be >= 1");
    } else if (flag == "--warmup") {
      o.warmup = std::atoi(value.c_str());
      if (o.warmup < 0) usage("--warmup must be >= 0");
      o.warmup_given = true;
    } else if (flag == "--batch") {
      o.batch = std::atoll(value.c_str());
      if (o.batch < 1) usage("--batch must be >= 1");
      o.batch_given = true;
    } else {
      usage(("unknown flag " + flag).c_str());
    }
  }
  if (o.batch_given) o.train.batch = o.batch;
  if (o.warmup_given) o.train.warmup = o.warmup;
  // train and gpu are GPU benchmarks first: the CPU only when asked for.
  if (!o.device_given) o.train.device = ff::Device(ff::DeviceType::CUDA, 0);
  return o;
}

// Best wall time of `repeat` runs of f, in seconds, after `warmup` untimed runs.
double best_seconds(const Options& o, const std::function<void()>& f) {
  for (int i = 0; i < o.warmup; ++i) f();
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < o.repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

Tensor random(const Shape& shape, uint64_t seed) {
  ff::Generator g(seed);
  return ff::uniform(shape, -1.0, 1.0, ff::DType::Float32, ff::Device(), &g);
}

// ---- (a) GEMM -----------------------------------------------------------------------------------
// Prints table (a); appends, per thread count, the best raw cblas_sgemm GFLOP/s seen (the peak).
void run_gemm(const Options& o, std::vector<double>* peak_per_thread) {
  std::printf("\n## (a) SGEMM: ff::matmul / ff::linear vs cblas_sgemm\n\n");
  std::printf("| shape | M x K x N | API | threads | ours ms | ours GFLOP/s | cblas ms | cblas GFLOP/s | ours / cblas |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (int threads : o.threads) {
    ff::set_num_threads(threads);
    double peak = 0.0;
    for (const GemmCase& c : kGemmCases) {
      const Tensor a = random({c.m, c.k}, 1);
      const Tensor b = c.linear ? random({c.n, c.k}, 2) : random({c.k, c.n}, 2);
      Tensor raw_out = Tensor::empty({c.m, c.n});
      const double flops = 2.0 * static_cast<double>(c.m) * static_cast<double>(c.k) * static_cast<double>(c.n);
      ff::autograd::NoGradGuard no_grad;
      const double ours = best_seconds(o, [&] {
        Tensor y = c.linear ? ff::linear(a, b) : ff::matmul(a, b);
        (void)y;
      });
      // FaceFlow keeps OpenBLAS single-threaded and splits GEMMs over its own OpenMP threads; the
      // reference is OpenBLAS threading itself, so it gets the thread count for its calls only.
      openblas_set_num_threads(threads);
      const double raw = best_seconds(o, [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, c.linear ? CblasTrans : CblasNoTrans, static_cast<int>(c.m),
                    static_cast<int>(c.n), static_cast<int>(c.k), 1.0f, a.data<float>(), static_cast<int>(c.k),
                    b.data<float>(), static_cast<int>(c.linear ? c.k : c.n), 0.0f, raw_out.data<float>(),
                    static_cast<int>(c.n));
      });
      openblas_set_num_threads(1);
      peak = std::max(peak, flops / raw / 1e9);
      std::printf("| %s | %lld x %lld x %lld | %s | %d | %.2f | %.1f | %.2f | %.1f | %.2f |\n", c.what,
                  static_cast<long long>(c.m), static_cast<long long>(c.k), static_cast<long long>(c.n),
                  c.linear ? "linear" : "matmul", threads, ours * 1e3, flops / ours / 1e9, raw * 1e3,
                  flops / raw / 1e9, raw / ours);
      std::fflush(stdout);
    }
    peak_per_thread->push_back(peak);
  }
}

// ---- (b) conv2d -----------------------------------------------------------------------------------
void run_conv_table(const Options& o, const char* title, const char* count_label,
                    const std::vector<ConvLayer>& layers, int threads, double peak) {
  std::printf("\n### %s, batch %lld, %d thread%s\n\n", title, static_cast<long long>(o.batch), threads,
              threads == 1 ? "" : "s");
  std::printf("| layer | input | weight | stride | %s | fwd ms | fwd GFLOP/s | fwd+bwd ms | fwd+bwd GFLOP/s |\n",
              count_label);
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  double net_fwd = 0.0, net_train = 0.0, net_fwd_flops = 0.0, net_train_flops = 0.0;
  uint64_t seed = 10;
  for (const ConvLayer& l : layers) {
    if (!o.filter.empty() && std::string(l.name).find(o.filter) == std::string::npos) continue;
    const ff::bench::ConvLayerTiming t = ff::bench::time_conv_layer(
        l, o.batch, [](const Shape& shape, uint64_t sd) { return random(shape, sd); },
        [&](const std::function<void()>& body) { return best_seconds(o, body); }, seed);
    const Shape& w_shape = t.weight_shape;
    const double fwd = t.fwd, train = t.train, fwd_flops = t.fwd_flops, train_flops = t.train_flops;
    net_fwd += l.count * fwd;
    net_train += l.count * train;
    net_fwd_flops += l.count * fwd_flops;
    net_train_flops += l.count * train_flops;
    std::printf("| %s | %lldx%lld | %s | %lld | %d | %.2f | %.1f | %.2f | %.1f |\n", l.name,
                static_cast<long long>(l.size), static_cast<long long>(l.size), ff::shape_str(w_shape).c_str(),
                static_cast<long long>(l.stride), l.count, fwd * 1e3, fwd_flops / fwd / 1e9, train * 1e3,
                train_flops / train / 1e9);
    std::fflush(stdout);
  }
  std::printf("| **total: every layer times its count** | | | | | **%.0f** | **%.1f** | **%.0f** | **%.1f** |\n",
              net_fwd * 1e3, net_fwd_flops / net_fwd / 1e9, net_train * 1e3, net_train_flops / net_train / 1e9);
  std::printf("\nWhole-network conv time: %.2f s forward, %.2f s forward+backward per batch of %lld "
              "(%.1f images/s training, conv layers only). sgemm peak at %d thread%s: %.0f GFLOP/s.\n",
              net_fwd, net_train, static_cast<long long>(o.batch), static_cast<double>(o.batch) / net_train, threads,
              threads == 1 ? "" : "s", peak);
  std::fflush(stdout);
}

// Raw sgemm 2048^3 GFLOP/s (best of at least 3): the reference the conv tables are read against
// when (a) did not run.
double measure_peak(const Options& o) {
  constexpr int n = 2048;
  const Tensor a = random({n, n}, 1), b = random({n, n}, 2);
  Tensor c = Tensor::empty({n, n});
  Options runs = o;
  runs.repeat = std::max(o.repeat, 3);
  openblas_set_num_threads(ff::get_num_threads());
  const double t = best_seconds(runs, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n,
                0.0f, c.data<float>(), n);
  });
  openblas_set_num_threads(1);
  return 2.0 * n * n * n / t / 1e9;
}

// The 1-minute load average: on a shared machine it says how much the numbers were disturbed.
std::string load_average() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return "unknown";
  char buf[64] = {};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  const std::string s = ok ? buf : "unknown";
  return s.substr(0, s.find(' '));
}

}  // namespace

// --only train: the table, or the reason the device cannot run it. Exit status 1 when anything failed.
int run_train(const Options& o) {
  std::printf("# FaceFlow training-step benchmark\n");
  try {
    const int failures = ff::bench::run_train_step_bench(o.train);
    if (failures > 0) std::fprintf(stderr, "bench: %d training-step configuration(s) failed\n", failures);
    return failures > 0 ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench: %s\n", e.what());
    return 1;
  }
}

// --only gpu: the kernel tables on the device (shares --device, --precision, --classes, --iters
// with train; --batch and --warmup default to 128 and 2).
int run_kernels(const Options& o) {
  ff::bench::KernelBenchOptions k;
  k.device = o.train.device;
  k.precisions = o.train.precisions;
  k.batch = o.batch_given ? o.batch : k.batch;
  k.classes = o.train.classes;
  k.warmup = o.warmup_given ? o.warmup : k.warmup;
  k.iters = o.train.iters;
  std::printf("# FaceFlow kernel benchmark\n");
  try {
    ff::bench::run_kernel_bench(k);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench: %s\n", e.what());
    return 1;
  }
}

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.only == "train") return run_train(o);
  if (o.only == "gpu") return run_kernels(o);
  std::printf("# FaceFlow CPU benchmark\n\n");
  std::printf("Load average at start: %s.\n", load_average().c_str());
  std::printf("OpenBLAS: %s (core %s); best of %d after %d warmup run(s).\n", openblas_get_config(),
              openblas_get_corename(), o.repeat, o.warmup);
  std::vector<double> peaks;
  if (o.only != "conv") run_gemm(o, &peaks);
  if (o.only != "gemm") {
    std::printf("\n## (b) conv2d forward and forward+backward (float32, NCHW, no bias)\n");
    for (size_t i = 0; i < o.threads.size(); ++i) {
      ff::set_num_threads(o.threads[i]);
      const double peak = i < peaks.size() ? peaks[i] : measure_peak(o);
      if (o.net != "mbf") run_conv_table(o, "IResNet (counts: r100)", "x r100", kIResNet, o.threads[i], peak);
      if (o.net != "iresnet") run_conv_table(o, "MobileFaceNet (counts: mbf)", "x mbf", kMobileFaceNet, o.threads[i], peak);
    }
  }
  std::printf("\nLoad average at end: %s.\n", load_average().c_str());
  return 0;
}
