// bench: CPU throughput of FaceFlow's GEMM and conv2d kernels, printed as markdown tables.
//
//   build/apps/bench [--only gemm|conv|all] [--threads 1,2] [--repeat N] [--warmup N]
//                    [--batch N] [--net iresnet|mbf|all] [--filter LAYER-NAME-PART]
//
// (a) GEMM: ff::matmul / ff::linear against cblas_sgemm called directly on the same buffers
//     (the machine's OpenBLAS peak), square and face-recognition shapes.
// (b) conv2d: forward and forward+backward of every distinct conv layer shape of IResNet and
//     MobileFaceNet (112x112 input), with how often each shape occurs in r100 / mbf, and the
//     resulting conv time of one whole network pass.
//
// Every time is the best of --repeat timed runs after --warmup untimed ones: best-of filters out
// interference from other processes on a shared machine. A benchmark, not a test: nothing is
// asserted. See docs/benchmarks.md for results and how to read them.
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

#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "ops/conv/conv2d.h"
#include "ops/linalg/matmul.h"
#include "ops/tensor_ops/random.h"

namespace {

using ff::Shape;
using ff::Tensor;

struct Options {
  std::string only = "all";  // gemm | conv | all
  std::string net = "all";   // iresnet | mbf | all
  std::string filter;        // only conv layers whose name contains this
  std::vector<int> threads = {1, 2};
  int repeat = 3;
  int warmup = 1;
  int64_t batch = 32;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "bench: %s\n"
               "usage: bench [--only gemm|conv|all] [--threads 1,2] [--repeat N] [--warmup N] [--batch N]\n"
               "             [--net iresnet|mbf|all] [--filter LAYER-NAME-PART]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") usage("CPU GEMM and conv2d benchmark");
    if (i + 1 >= argc) usage(("missing value for " + flag).c_str());
    const std::string value = argv[++i];
    if (flag == "--only") {
      o.only = value;
      if (o.only != "gemm" && o.only != "conv" && o.only != "all") usage("--only takes gemm, conv or all");
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
    } else if (flag == "--batch") {
      o.batch = std::atoll(value.c_str());
      if (o.batch < 1) usage("--batch must be >= 1");
    } else {
      usage(("unknown flag " + flag).c_str());
    }
  }
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
struct GemmCase {
  const char* what;
  int64_t m, k, n;
  bool linear;  // ff::linear (weight [N, K], BLAS trans_b) instead of ff::matmul
};

const std::vector<GemmCase> kGemmCases = {
    {"square 256", 256, 256, 256, false},
    {"square 512", 512, 512, 512, false},
    {"square 1024", 1024, 1024, 1024, false},
    {"square 2048", 2048, 2048, 2048, false},
    {"IResNet FC 25088->512, batch 128", 128, 25088, 512, true},
    {"IResNet FC 25088->512, batch 512", 512, 25088, 512, true},
    {"logits: 512-d x 16384 classes, batch 128", 128, 512, 16384, true},
    {"im2col: 3x3 conv 64->64 at 56x56, 1 image", 64, 576, 3136, false},
};

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
struct ConvLayer {
  const char* name;
  int64_t c_in, c_out, size, kernel, stride, groups;  // input size x size, padding kernel / 2
  int count;                                          // occurrences in r100 / mbf
  bool needs_input_grad = true;                       // false for the first layer (the image)
  int64_t padding = -1;                               // -1: kernel / 2
};

// IResNet (r100 counts: stages [3, 13, 30, 3]). Every block: conv3x3 in->out, stride 1, then
// conv3x3 out->out with the stage's stride on the first block, plus a 1x1 stride-2 shortcut.
const std::vector<ConvLayer> kIResNet = {
    {"stem 3->64", 3, 64, 112, 3, 1, 1, 1, false},
    {"stage1 first conv1 64->64", 64, 64, 112, 3, 1, 1, 1},
    {"stage1 first conv2 64->64 s2", 64, 64, 112, 3, 2, 1, 1},
    {"stage1 shortcut 1x1 s2", 64, 64, 112, 1, 2, 1, 1},
    {"stage1 body 64->64", 64, 64, 56, 3, 1, 1, 4},
    {"stage2 first conv1 64->128", 64, 128, 56, 3, 1, 1, 1},
    {"stage2 first conv2 128->128 s2", 128, 128, 56, 3, 2, 1, 1},
    {"stage2 shortcut 1x1 s2", 64, 128, 56, 1, 2, 1, 1},
    {"stage2 body 128->128", 128, 128, 28, 3, 1, 1, 24},
    {"stage3 first conv1 128->256", 128, 256, 28, 3, 1, 1, 1},
    {"stage3 first conv2 256->256 s2", 256, 256, 28, 3, 2, 1, 1},
    {"stage3 shortcut 1x1 s2", 128, 256, 28, 1, 2, 1, 1},
    {"stage3 body 256->256", 256, 256, 14, 3, 1, 1, 58},
    {"stage4 first conv1 256->512", 256, 512, 14, 3, 1, 1, 1},
    {"stage4 first conv2 512->512 s2", 512, 512, 14, 3, 2, 1, 1},
    {"stage4 shortcut 1x1 s2", 256, 512, 14, 1, 2, 1, 1},
    {"stage4 body 512->512", 512, 512, 7, 3, 1, 1, 4},
};

// MobileFaceNet (mbf: blocks (1, 4, 6, 2), scale 2). DepthWise(in, out, g, s) = 1x1 in->g,
// 3x3 depthwise g (stride s), 1x1 g->out.
const std::vector<ConvLayer> kMobileFaceNet = {
    {"conv1 3->128 s2", 3, 128, 112, 3, 2, 1, 1, false},
    {"conv2 128->128 groups 64", 128, 128, 56, 3, 1, 64, 1},
    {"dw1 expand 1x1 128->128", 128, 128, 56, 1, 1, 1, 1},
    {"dw1 depthwise 128 s2", 128, 128, 56, 3, 2, 128, 1},
    {"1x1 128->128 @28", 128, 128, 28, 1, 1, 1, 9},
    {"res1 depthwise 128", 128, 128, 28, 3, 1, 128, 4},
    {"dw2 expand 1x1 128->256", 128, 256, 28, 1, 1, 1, 1},
    {"dw2 depthwise 256 s2", 256, 256, 28, 3, 2, 256, 1},
    {"1x1 256->256 @14", 256, 256, 14, 1, 1, 1, 13},
    {"res2 depthwise 256", 256, 256, 14, 3, 1, 256, 6},
    {"dw3 expand 1x1 256->512", 256, 512, 14, 1, 1, 1, 1},
    {"dw3 depthwise 512 s2", 512, 512, 14, 3, 2, 512, 1},
    {"dw3 project 1x1 512->256", 512, 256, 7, 1, 1, 1, 1},
    {"1x1 256->256 @7", 256, 256, 7, 1, 1, 1, 4},
    {"res3 depthwise 256", 256, 256, 7, 3, 1, 256, 2},
    {"conv_sep 1x1 256->512", 256, 512, 7, 1, 1, 1, 1},
    {"GDC depthwise 7x7 512", 512, 512, 7, 7, 1, 512, 1, true, 0},
};

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
    ff::Conv2dParams p;
    const int64_t pad = l.padding >= 0 ? l.padding : l.kernel / 2;
    p.stride = {l.stride, l.stride};
    p.padding = {pad, pad};
    p.groups = l.groups;
    const Shape x_shape{o.batch, l.c_in, l.size, l.size};
    const Shape w_shape{l.c_out, l.c_in / l.groups, l.kernel, l.kernel};
    Tensor x = random(x_shape, seed++), w = random(w_shape, seed++);
    const Shape y_shape = ff::conv2d_output_shape(x, w, Tensor(), p);
    const Tensor g = random(y_shape, seed++);
    const double fwd_flops = 2.0 * static_cast<double>(o.batch * l.c_out * y_shape[2] * y_shape[3]) *
                             static_cast<double>(l.c_in / l.groups * l.kernel * l.kernel);
    // Backward: one forward-sized product for grad_weight, one more for grad_input when needed.
    const double train_flops = fwd_flops * (l.needs_input_grad ? 3.0 : 2.0);

    const double fwd = best_seconds(o, [&] {
      ff::autograd::NoGradGuard no_grad;
      Tensor y = ff::conv2d(x, w, Tensor(), p);
      (void)y;
    });
    if (l.needs_input_grad) x.set_requires_grad(true);
    w.set_requires_grad(true);
    const double train = best_seconds(o, [&] {
      Tensor y = ff::conv2d(x, w, Tensor(), p);
      y.backward(g);
      x.zero_grad();
      w.zero_grad();
    });
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

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
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
