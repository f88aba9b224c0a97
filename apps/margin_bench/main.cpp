// margin_bench: the classifier head on the CPU, printed as markdown for docs/benchmarks.md.
//
//   build/apps/margin_bench [--classes 1000000] [--batch 128] [--repeat 3] [--threads N] [--skip-memory]
//
// 1. Margin + softmax cross-entropy, forward and backward, on [batch, classes] float32 cosines
//    (ArcFace), each stage timed (best of --repeat) with the bytes it must move at least and the
//    bandwidth that implies, next to this machine's measured copy bandwidth: these stages are
//    streaming passes, so memory bandwidth is their roofline.
// 2. Partial FC memory per rank against a full FC: the model (W, momentum, sampled copies,
//    [B, S] logit buffers) for the reference datasets, and the measured peak RSS of one
//    training step of a rank-sized shard, run in a child process (--child-pfc) so that each
//    measurement starts from a clean heap. A benchmark, not a test: nothing is asserted.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "framework/dispatch/registry.h"
#include "framework/distributed/communicator.h"
#include "models/heads/margin_heads.h"
#include "models/heads/partial_fc.h"
#include "ops/margin/margin.h"
#include "ops/softmax/softmax.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace {

using ff::Tensor;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double best_of(int repeat, const std::function<void()>& f) {
  double best = 1e30;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

// Peak resident set of this process, in MiB (Linux VmHWM).
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return 0.0;
}

void margin_section(int64_t classes, int64_t batch, int repeat) {
  const double mib = 1024.0 * 1024.0;
  const double matrix = static_cast<double>(classes) * batch * 4;  // bytes of one [batch, classes] float32
  ff::Generator g(1);
  const Tensor cosines = ff::uniform({batch, classes}, -1.0, 1.0, ff::DType::Float32, ff::Device(), &g);
  std::vector<int64_t> lv(batch);
  for (int64_t i = 0; i < batch; ++i) lv[i] = (i * 7919) % classes;
  const Tensor labels = ff::tensor_from(lv, {batch});
  const ff::MarginOptions arc = ff::heads::arcface();

  // Roofline reference: a plain copy of one matrix (read + write).
  Tensor scratch = ff::empty({batch, classes});
  const double copy_s = best_of(repeat, [&] { scratch.copy_(cosines); });
  const double bandwidth = 2 * matrix / copy_s / 1e9;

  Tensor logits, loss;
  const double margin_s = best_of(repeat, [&] {
    ff::autograd::NoGradGuard no_grad;
    logits = ff::combined_margin(cosines, labels, arc);
  });
  const double ce_s = best_of(repeat, [&] {
    ff::autograd::NoGradGuard no_grad;
    loss = ff::cross_entropy(logits, labels);
  });
  double total_fb_s = 1e30, ce_bw_s = 1e30, margin_bw_s = 1e30;
  for (int r = 0; r < repeat; ++r) {
    Tensor x = cosines.detach();
    x.set_requires_grad(true);
    const auto t0 = Clock::now();
    Tensor l = ff::cross_entropy(ff::combined_margin(x, labels, arc), labels);
    l.backward();
    total_fb_s = std::min(total_fb_s, seconds_since(t0));
    // Backward stages alone: CE backward then margin backward, timed through the op pair.
    Tensor logits_leaf = ff::combined_margin(cosines, labels, arc).detach();
    logits_leaf.set_requires_grad(true);
    Tensor l2 = ff::cross_entropy(logits_leaf, labels);
    const auto t1 = Clock::now();
    l2.backward();
    ce_bw_s = std::min(ce_bw_s, seconds_since(t1));
    Tensor x2 = cosines.detach();
    x2.set_requires_grad(true);
    Tensor out = ff::combined_margin(x2, labels, arc);
    const auto t2 = Clock::now();
    out.backward(logits_leaf.grad());
    margin_bw_s = std::min(margin_bw_s, seconds_since(t2));
  }

  // The margin kernels alone, into outputs that were already written once (no page faults):
  // what a caching allocator would give; the op rows above include the first touch of fresh
  // 488 MiB outputs.
  static const ff::dispatch::OpHandle fwd_op("combined_margin"), bwd_op("combined_margin_backward");
  const ff::margin_math::Constants c = arc.constants();
  Tensor out = ff::empty({batch, classes}), slope = ff::empty({batch}), grad_x = ff::empty({batch, classes});
  const double kernel_fwd_s = best_of(repeat + 1, [&] {
    fwd_op.kernel<ff::CombinedMarginKernel>(ff::DeviceType::CPU, ff::DType::Float32)(out, slope, cosines, labels, c);
  });
  const double kernel_bwd_s = best_of(repeat + 1, [&] {
    bwd_op.kernel<ff::CombinedMarginBackwardKernel>(ff::DeviceType::CPU, ff::DType::Float32)(grad_x, out, Tensor(),
                                                                                             labels, slope, c);
  });

  std::printf("\n#### Margin + softmax CE, [%lld, %lld] float32 (%.0f MiB per matrix), %d threads\n\n",
              static_cast<long long>(batch), static_cast<long long>(classes), matrix / mib, ff::get_num_threads());
  std::printf("Measured copy bandwidth (read + write of one matrix): **%.1f GB/s**.\n\n", bandwidth);
  std::printf("| stage | time (ms) | bytes moved (min) | effective GB/s | of copy bandwidth |\n|---|---|---|---|---|\n");
  auto row = [&](const char* name, double s, double bytes) {
    std::printf("| %s | %.1f | %.0f MiB | %.1f | %.0f%% |\n", name, s * 1e3, bytes / mib, bytes / s / 1e9,
                100.0 * bytes / s / 1e9 / bandwidth);
  };
  row("combined_margin forward (read x, write logits)", margin_s, 2 * matrix);
  row("cross_entropy forward (reads logits twice: max, sum exp)", ce_s, 2 * matrix);
  row("cross_entropy backward (read logits, write grad)", ce_bw_s, 2 * matrix);
  row("combined_margin backward (read grad, write grad)", margin_bw_s, 2 * matrix);
  row("all four, with autograd (forward + backward)", total_fb_s, 8 * matrix);
  row("combined_margin forward kernel, output pre-touched", kernel_fwd_s, 2 * matrix);
  row("combined_margin backward kernel, output pre-touched", kernel_bwd_s, 2 * matrix);
  std::printf("\n(loss %.3f)\n", loss.item<double>());
}

// One PartialFC training step of a shard of `classes` centres with `batch` global rows at
// `rate`, world size 1 (the shard is what one rank holds); prints the peak RSS growth.
int child_pfc(int64_t classes, int64_t batch, double rate) {
  const double base = peak_rss_mib();
  auto single = ff::distributed::create_communicator("single");
  ff::heads::PartialFCOptions o;
  o.num_classes = classes;
  o.embedding_size = 512;
  o.sample_rate = rate;
  auto pfc = std::make_shared<ff::heads::PartialFC>(o, *single);
  ff::heads::SparseRowSGD opt(pfc->parameters(), ff::optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
  pfc->attach_to(opt);
  ff::Generator g(3);
  Tensor emb = ff::normal({batch, 512}, 0.0, 1.0, ff::DType::Float32, ff::Device(), &g);
  emb.set_requires_grad(true);
  std::vector<int64_t> lv(batch);
  for (int64_t i = 0; i < batch; ++i) lv[i] = (i * 7919) % classes;
  const auto t0 = Clock::now();
  for (int step = 0; step < 2; ++step) {  // the second step has the momentum buffer allocated
    Tensor loss = pfc->forward(emb, ff::tensor_from(lv, {batch}));
    loss.backward();
    opt.step();
    opt.zero_grad();
    emb.zero_grad();
  }
  std::printf("%.1f %.3f\n", peak_rss_mib() - base, seconds_since(t0) / 2);
  return 0;
}

void memory_section(const char* self) {
  const double mib = 1024.0 * 1024.0, d = 512, f = 4;
  struct Config {
    const char* name;
    double classes;
    int ranks;
  };
  const Config configs[] = {{"MS1MV3", 93431, 1}, {"Glint360K", 360232, 8}, {"WebFace42M", 2059906, 8},
                            {"10M ids", 10e6, 8}};
  std::printf("\n#### Partial FC memory per rank (model), fp32, D = 512, batch 128 per rank\n\n");
  std::printf("W + momentum are the shard (kept whole); the step adds the sampled copy and its gradient "
              "(r < 1 only: at r = 1 the shard is used in place) and ~4 [B, S] float32 buffers "
              "(cosines, margin logits, softmax saved for backward, logits gradient).\n\n");
  std::printf("| dataset | ranks | full FC (all classes, global batch, one device) | PFC r = 1.0 per rank | PFC r = 0.1 per rank |\n|---|---|---|---|---|\n");
  for (const auto& c : configs) {
    const double batch = 128.0 * c.ranks;
    auto per_rank = [&](double classes, double rate) {
      const double sampled = std::max(1.0, std::floor(classes * rate));
      const double shard = 2 * classes * d * f;                 // W + momentum
      const double copies = rate < 1.0 ? 3 * sampled * d * f : 2 * sampled * d * f;  // copy, normalised, grad
      return (shard + copies + 4 * batch * sampled * f) / mib;
    };
    std::printf("| %s | %d | %.0f MiB | %.0f MiB | %.0f MiB |\n", c.name, c.ranks, per_rank(c.classes, 1.0),
                per_rank(std::ceil(c.classes / c.ranks), 1.0), per_rank(std::ceil(c.classes / c.ranks), 0.1));
  }

  std::printf("\n#### Partial FC measured: peak RSS growth of one rank's training step (world size 1, CPU)\n\n");
  std::printf("| shard classes | global batch | sample rate | peak RSS growth | model | step time |\n|---|---|---|---|---|---|\n");
  struct Run {
    int64_t classes, batch;
    double rate;
  };
  for (const Run& r : {Run{125000, 1024, 1.0}, Run{125000, 1024, 0.1}, Run{250000, 1024, 0.1}}) {
    const std::string cmd = std::string(self) + " --child-pfc " + std::to_string(r.classes) + " " +
                            std::to_string(r.batch) + " " + std::to_string(r.rate);
    FILE* p = popen(cmd.c_str(), "r");
    double rss = 0, secs = 0;
    if (!p || std::fscanf(p, "%lf %lf", &rss, &secs) != 2) rss = -1;
    if (p) pclose(p);
    const double sampled = std::floor(r.classes * r.rate);
    const double model = (2.0 * r.classes * d * f + (r.rate < 1 ? 3 : 2) * sampled * d * f + 4.0 * r.batch * sampled * f) / mib;
    std::printf("| %lld | %lld | %.1f | %.0f MiB | %.0f MiB | %.2f s |\n", static_cast<long long>(r.classes),
                static_cast<long long>(r.batch), r.rate, rss, model, secs);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int64_t classes = 1000000, batch = 128;
  int repeat = 3, threads = 0;
  bool skip_memory = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value for %s\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--child-pfc" && i + 3 < argc) {
      return child_pfc(std::atoll(argv[i + 1]), std::atoll(argv[i + 2]), std::atof(argv[i + 3]));
    } else if (a == "--classes") {
      classes = std::atoll(next());
    } else if (a == "--batch") {
      batch = std::atoll(next());
    } else if (a == "--repeat") {
      repeat = std::atoi(next());
    } else if (a == "--threads") {
      threads = std::atoi(next());
    } else if (a == "--skip-memory") {
      skip_memory = true;
    } else {
      std::fprintf(stderr, "usage: margin_bench [--classes N] [--batch N] [--repeat N] [--threads N] [--skip-memory]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  if (threads > 0) ff::set_num_threads(threads);
  margin_section(classes, batch, repeat);
  if (!skip_memory) memory_section(argv[0]);
  return 0;
}
