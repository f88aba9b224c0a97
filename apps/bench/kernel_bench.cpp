#include "apps/bench/kernel_bench.h"

#include <cstdio>
#include <functional>
#include <vector>

#include "apps/bench/bench_shapes.h"
#include "apps/bench/conv_layer_timing.h"
#include "apps/bench/device_timer.h"
#include "apps/bench/train_step_bench.h"
#include "framework/autograd/autograd.h"
#include "ops/conv/conv2d.h"
#include "ops/linalg/matmul.h"
#include "ops/margin/margin.h"
#include "ops/softmax/softmax.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace ff::bench {
namespace {

DType dtype_of(const std::string& precision) {
  check_precision_name(precision);
  return precision == "fp16" ? DType::Float16 : precision == "bf16" ? DType::BFloat16 : DType::Float32;
}

// Median milliseconds of `fn` over o.iters timed runs after o.warmup untimed ones.
double median_ms(const KernelBenchOptions& o, const std::function<void()>& fn) {
  for (int i = 0; i < o.warmup; ++i) fn();
  synchronize(o.device);
  DeviceTimer timer(o.device, o.iters);
  for (int i = 0; i < o.iters; ++i) {
    timer.start(i);
    fn();
    timer.stop(i);
  }
  synchronize(o.device);
  return median(timer.milliseconds());
}

Tensor random_on(const KernelBenchOptions& o, const Shape& shape, DType dtype, uint64_t seed) {
  Generator g(seed);
  return uniform(shape, -1.0, 1.0, DType::Float32, o.device, &g).to(dtype);
}

double tflops(double flops, double ms) { return flops / (ms / 1e3) / 1e12; }

void gemm_table(const KernelBenchOptions& o) {
  std::printf("\n## (a) GEMM on %s: ff::matmul / ff::linear\n\n", o.device.str().c_str());
  std::printf("| shape | M x K x N | API | precision | ms (median) | TFLOP/s |\n|---|---|---|---|---|---|\n");
  for (const std::string& precision : o.precisions) {
    const DType dtype = dtype_of(precision);
    for (const GemmCase& c : kGemmCases) {
      const Tensor a = random_on(o, {c.m, c.k}, dtype, 1);
      const Tensor b = c.linear ? random_on(o, {c.n, c.k}, dtype, 2) : random_on(o, {c.k, c.n}, dtype, 2);
      autograd::NoGradGuard no_grad;
      const double ms = median_ms(o, [&] { (void)(c.linear ? linear(a, b) : matmul(a, b)); });
      const double flops = 2.0 * static_cast<double>(c.m) * static_cast<double>(c.k) * static_cast<double>(c.n);
      std::printf("| %s | %lld x %lld x %lld | %s | %s | %.3f | %.2f |\n", c.what, static_cast<long long>(c.m),
                  static_cast<long long>(c.k), static_cast<long long>(c.n), c.linear ? "linear" : "matmul",
                  precision.c_str(), ms, tflops(flops, ms));
      std::fflush(stdout);
    }
  }
}

void conv_table(const KernelBenchOptions& o, const char* title, const std::vector<ConvLayer>& layers,
                const std::string& precision) {
  const DType dtype = dtype_of(precision);
  std::printf("\n### %s, %s, batch %lld\n\n", title, precision.c_str(), static_cast<long long>(o.batch));
  std::printf("| layer | input | stride | count | fwd ms | fwd TFLOP/s | fwd+bwd ms | fwd+bwd TFLOP/s |\n"
              "|---|---|---|---|---|---|---|---|\n");
  double net_fwd = 0.0, net_train = 0.0, net_fwd_flops = 0.0, net_train_flops = 0.0;
  uint64_t seed = 10;
  for (const ConvLayer& l : layers) {
    const ConvLayerTiming t = time_conv_layer(
        l, o.batch, [&](const Shape& shape, uint64_t sd) { return random_on(o, shape, dtype, sd); },
        [&](const std::function<void()>& body) { return median_ms(o, body); }, seed);
    const double fwd = t.fwd, train = t.train, fwd_flops = t.fwd_flops, train_flops = t.train_flops;
    net_fwd += l.count * fwd;
    net_train += l.count * train;
    net_fwd_flops += l.count * fwd_flops;
    net_train_flops += l.count * train_flops;
    std::printf("| %s | %lldx%lld | %lld | %d | %.3f | %.2f | %.3f | %.2f |\n", l.name, static_cast<long long>(l.size),
                static_cast<long long>(l.size), static_cast<long long>(l.stride), l.count, fwd, tflops(fwd_flops, fwd),
                train, tflops(train_flops, train));
    std::fflush(stdout);
  }
  std::printf("| **total: every layer times its count** | | | | **%.2f** | **%.2f** | **%.2f** | **%.2f** |\n", net_fwd,
              tflops(net_fwd_flops, net_fwd), net_train, tflops(net_train_flops, net_train));
}

// combined_margin (ArcFace) + cross-entropy, forward and backward, on [batch, classes] float32 cosines.
void margin_table(const KernelBenchOptions& o) {
  std::printf("\n## (c) ArcFace margin + softmax cross-entropy on %s, [%lld, %lld] float32\n\n", o.device.str().c_str(),
              static_cast<long long>(o.batch), static_cast<long long>(o.classes));
  Tensor cosines = random_on(o, {o.batch, o.classes}, DType::Float32, 3);
  std::vector<int64_t> label_values(static_cast<size_t>(o.batch));
  for (int64_t i = 0; i < o.batch; ++i) label_values[static_cast<size_t>(i)] = (i * 7919 + 13) % o.classes;
  const Tensor labels = tensor_from(label_values, {o.batch}).to(o.device);
  MarginOptions arcface;  // (1, 0.5, 0), s = 64
  const double fwd = median_ms(o, [&] {
    autograd::NoGradGuard no_grad;
    (void)cross_entropy(combined_margin(cosines, labels, arcface), labels);
  });
  cosines.set_requires_grad(true);
  const double train = median_ms(o, [&] {
    cross_entropy(combined_margin(cosines, labels, arcface), labels).backward();
    cosines.zero_grad();
  });
  std::printf("| pass | ms (median) |\n|---|---|\n| forward | %.3f |\n| forward + backward | %.3f |\n", fwd, train);
}

}  // namespace

void run_kernel_bench(const KernelBenchOptions& o) {
  FF_CHECK(o.batch >= 1 && o.classes >= 1 && o.iters >= 1 && o.warmup >= 0,
           "kernel bench: need batch >= 1, classes >= 1, iters >= 1, warmup >= 0 (got {}, {}, {}, {})", o.batch,
           o.classes, o.iters, o.warmup);
  for (const std::string& p : o.precisions) check_precision_name(p);
  check_device_usable(o.device);
  std::printf("\nKernels on %s: median of %d timed runs after %d warm-up runs.\n", o.device.str().c_str(), o.iters,
              o.warmup);
  gemm_table(o);
  std::printf("\n## (b) conv2d on %s, forward and forward+backward, NCHW, no bias\n", o.device.str().c_str());
  for (const std::string& precision : o.precisions) {
    conv_table(o, "IResNet (counts: r100)", kIResNet, precision);
    conv_table(o, "MobileFaceNet (counts: mbf)", kMobileFaceNet, precision);
  }
  margin_table(o);
}

}  // namespace ff::bench
