// Throughput of the data-movement, elementwise and reduction kernels (effective GB/s), printed
// as a markdown table. A measurement, not a check: it asserts nothing and runs only when
// FF_CUDA_THROUGHPUT=1 (scripts/gpu_check.sh sets it); otherwise it skips.
#include <gtest/gtest.h>

#ifdef FF_WITH_CUDA

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "framework/cuda/cuda_runtime.h"
#include "ops/elementwise/binary.h"
#include "ops/index/index.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace ff {
namespace {

using cuda_test::gpu;

struct Case {
  std::string name;
  double bytes;  // bytes read + written by one call
  std::function<void()> run;
};

// Best of 5 timed batches of `reps` calls, after a warm-up call.
double time_ms(const std::function<void()>& f, int reps = 10) {
  f();
  double best = 1e30;
  for (int batch = 0; batch < 5; ++batch) {
    cuda::Event start(true), stop(true);
    start.record();
    for (int i = 0; i < reps; ++i) f();
    stop.record();
    stop.synchronize();
    best = std::min(best, static_cast<double>(start.elapsed_ms(stop)) / reps);
  }
  return best;
}

TEST(CudaThroughput, Kernels) {
  FF_SKIP_WITHOUT_CUDA();
  const char* env = std::getenv("FF_CUDA_THROUGHPUT");
  if (!env || std::string(env) != "1") GTEST_SKIP() << "set FF_CUDA_THROUGHPUT=1 to time the kernels";
  const int64_t n = int64_t{1} << 26;  // 64M elements
  const Tensor a = rand({n}, DType::Float32, gpu()), b = rand({n}, DType::Float32, gpu());
  const Tensor ah = a.to(DType::BFloat16), bh = b.to(DType::BFloat16);
  const Tensor m = rand({8192, 8192}, DType::Float32, gpu()), row = rand({8192}, DType::Float32, gpu());
  const Tensor logits = rand({512, 100000}, DType::Float32, gpu());
  const Tensor table = rand({100000, 512}, DType::Float32, gpu());
  const Tensor ids = arange(0, 65536, 1, DType::Int64, gpu()).to(DType::Float64);
  const Tensor rows = cast(mul(ids, 1.5), DType::Int64);  // rows 0 .. 98302, every other one doubled
  const Tensor grads = rand({65536, 512}, DType::Float32, gpu());
  Tensor out = empty({n}, DType::Float32, gpu());
  const double f4 = 4.0 * static_cast<double>(n), f2 = 2.0 * static_cast<double>(n);
  const double mm = 4.0 * 8192 * 8192;
  const std::vector<Case> cases = {
      {"add f32 [64M]", 3 * f4, [&] { add(a, b); }},
      {"add bf16 [64M]", 3 * f2, [&] { add(ah, bh); }},
      {"add f32 [8192,8192] + [8192]", 2 * mm, [&] { add(m, row); }},
      {"axpy_ f32 [64M]", 3 * f4, [&] { add_(out, a, 0.5); }},
      {"fill f32 [64M] (nonzero)", f4, [&] { out.fill_(1.5); }},
      {"copy f32 transposed [8192,8192]", 2 * mm, [&] { m.t().contiguous(); }},
      {"cast f32 -> bf16 [64M]", f4 + f2, [&] { a.to(DType::BFloat16); }},
      {"rand f32 [64M]", f4, [&] { rand({n}, DType::Float32, gpu()); }},
      {"randn f32 [64M]", f4, [&] { randn({n}, DType::Float32, gpu()); }},
      {"sum f32 all [64M]", f4, [&] { sum(a); }},
      {"sum f32 [8192,8192] dim 0", mm, [&] { sum(m, {0}); }},
      {"sum f32 [8192,8192] dim 1", mm, [&] { sum(m, {1}); }},
      {"max bf16 all [64M]", f2, [&] { max(ah); }},
      {"argmax f32 [512,100000] dim 1", 4.0 * 512 * 100000, [&] { argmax(logits, 1); }},
      {"index_select rows [100000,512] x 65536", 2.0 * 65536 * 512 * 4, [&] { index_select(table, 0, rows); }},
      // Includes zeroing the 200 MB output, which the byte count leaves out.
      {"scatter_add rows (index_select backward)", 3.0 * 65536 * 512 * 4,
       [&] { scatter_add(zeros({100000, 512}, DType::Float32, gpu()), 0, rows.view({65536, 1}).expand({65536, 512}), grads); }},
  };
  std::printf("\n| kernel | ms | GB/s |\n|---|---|---|\n");
  for (const Case& c : cases) {
    const double ms = time_ms(c.run);
    std::printf("| %s | %.3f | %.0f |\n", c.name.c_str(), ms, c.bytes / (ms * 1e6));
  }
  std::printf("\n");
}

}  // namespace
}  // namespace ff

#endif  // FF_WITH_CUDA
