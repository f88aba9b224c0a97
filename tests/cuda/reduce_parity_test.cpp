// CUDA vs CPU parity of sum/mean/max/min/argmax/argmin: every split of kept and reduced dims
// on odd shapes, keepdim, transposed and step-sliced inputs, shapes large enough for the
// two-pass (split reduction) path, NaN propagation, ties, empty reductions.
//
// Tolerances: max/min/argmax/argmin are exact. Sums accumulate in float on the GPU (double for
// float64) and in double on the CPU: float32 sums of positive data agree to ~1e-6 relative
// (kSumTol); 16-bit results may differ by one ulp of the output type; integers are exact.
#include <gtest/gtest.h>

#ifdef FF_WITH_CUDA

#include <cmath>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "ops/reduce/reduce.h"

namespace ff {
namespace {

using cuda_test::approx_tol;
using cuda_test::check_parity;
using cuda_test::kExact;
using cuda_test::kNumericDTypes;
using cuda_test::label;
using cuda_test::random_cpu;
using cuda_test::Tol;


Tol sum_tol(DType t) {
  if (t == DType::Float32) return {1e-5, 1e-5};
  return approx_tol(t);
}

// Data for a reduction test: positive values for sums (so relative error is meaningful), small
// integers (with ties) otherwise.
Tensor data(const Shape& s, DType dt, uint64_t seed, bool for_sum) {
  if (!is_floating(dt)) return cuda_test::random_small_ints(s, dt, seed, for_sum ? 100 : 7);
  return for_sum ? random_cpu(s, dt, seed, 0.5, 1.5) : random_cpu(s, dt, seed, -4.0, 4.0);
}

struct Case {
  Shape shape;
  std::vector<int64_t> dims;  // empty: all
};

const std::vector<Case> kCases = {
    {{1}, {}},          {{7}, {}},         {{7}, {0}},        {{33, 65}, {}},      {{33, 65}, {0}},
    {{33, 65}, {1}},    {{3, 5, 7}, {}},   {{3, 5, 7}, {0}},  {{3, 5, 7}, {1}},    {{3, 5, 7}, {2}},
    {{3, 5, 7}, {0, 2}}, {{3, 5, 7}, {1, 2}}, {{2, 3, 4, 5}, {1, 3}}, {{1, 7, 1}, {1}}, {{}, {}},
    // Large: the two-pass path (few outputs, long reductions) in both thread layouts.
    {{1000, 1000}, {}}, {{1000, 1000}, {0}}, {{1000, 1000}, {1}}, {{3, 100000}, {1}}, {{100000, 3}, {0}},
    {{64, 8, 28, 28}, {0, 2, 3}},  // batch-norm statistics of an NCHW tensor
};

TEST(CudaReduce, SumMeanMaxMinMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  uint64_t seed = 1;
  for (const Case& c : kCases) {
    const bool large = shape_numel(c.shape) > 100000;
    for (DType dt : kNumericDTypes) {
      if (large && dt != DType::Float32 && dt != DType::Float16 && dt != DType::Int64) continue;  // keep it quick
      for (bool keepdim : {false, true}) {
        const Tensor xs = data(c.shape, dt, ++seed, true), xm = data(c.shape, dt, ++seed, false);
        const std::string where = shape_str(c.shape) + " dims " + fmt::format("{}", fmt::join(c.dims, ",")) +
                                  (keepdim ? " keepdim" : "");
        const auto dims = c.dims;
        // Integer sums return int64 and are exact; float sums get sum_tol.
        check_parity({xs}, cuda_test::as_is, [&](const std::vector<Tensor>& v) { return sum(v[0], dims, keepdim); },
                     is_floating(dt) ? sum_tol(dt) : kExact, label("sum", dt, {}) + where);
        if (is_floating(dt)) {
          check_parity({xs}, cuda_test::as_is, [&](const std::vector<Tensor>& v) { return mean(v[0], dims, keepdim); },
                       sum_tol(dt), label("mean", dt, {}) + where);
        }
        check_parity({xm}, cuda_test::as_is, [&](const std::vector<Tensor>& v) { return max(v[0], dims, keepdim); },
                     kExact, label("max", dt, {}) + where);
        check_parity({xm}, cuda_test::as_is, [&](const std::vector<Tensor>& v) { return min(v[0], dims, keepdim); },
                     kExact, label("min", dt, {}) + where);
      }
    }
  }
}

TEST(CudaReduce, NonContiguousInputs) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::Float32, DType::Float16, DType::Int64}) {
    const Tensor base = data({65, 33}, dt, 7, true);
    for (int64_t d : {0, 1}) {
      check_parity({base}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].t()}; },
                   [d](const std::vector<Tensor>& v) { return sum(v[0], {d}); },
                   is_floating(dt) ? sum_tol(dt) : kExact, label("sum transposed dim " + std::to_string(d), dt, {33, 65}));
      check_parity({base}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].slice(0, 1, 65, 3)}; },
                   [d](const std::vector<Tensor>& v) { return max(v[0], {d}); }, kExact,
                   label("max step-sliced dim " + std::to_string(d), dt, {22, 33}));
      check_parity({base}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].t()}; },
                   [d](const std::vector<Tensor>& v) { return argmax(v[0], d); }, kExact,
                   label("argmax transposed dim " + std::to_string(d), dt, {33, 65}));
    }
    // A broadcast (stride-0) input.
    check_parity({base}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].select(0, 2).expand({9, 33})}; },
                 [](const std::vector<Tensor>& v) { return sum(v[0], {0}); }, is_floating(dt) ? sum_tol(dt) : kExact,
                 label("sum of expanded", dt, {9, 33}));
  }
}

TEST(CudaReduce, ArgMaxArgMinFirstIndexOfTies) {
  FF_SKIP_WITHOUT_CUDA();
  const std::vector<std::pair<Shape, int64_t>> cases = {
      {{7}, 0},       {{33, 65}, 0},   {{33, 65}, 1},     {{3, 5, 7}, 1}, {{3, 5, 7}, 2}, {{}, 0},
      {{1, 9}, 0},    {{4, 200000}, 1}, {{200000, 4}, 0}, {{300, 300}, 1}};
  uint64_t seed = 50;
  for (const auto& [shape, dim] : cases) {
    for (DType dt : kNumericDTypes) {
      if (shape_numel(shape) > 100000 && (dt == DType::Float64 || dt == DType::Int32)) continue;
      const Tensor x = cuda_test::random_small_ints(shape, dt, ++seed, 4);  // many ties
      for (bool keepdim : {false, true}) {
        check_parity({x}, cuda_test::as_is, [&](const std::vector<Tensor>& v) { return argmax(v[0], dim, keepdim); },
                     kExact, label("argmax dim " + std::to_string(dim), dt, shape));
        check_parity({x}, cuda_test::as_is, [&](const std::vector<Tensor>& v) { return argmin(v[0], dim, keepdim); },
                     kExact, label("argmin dim " + std::to_string(dim), dt, shape));
      }
    }
  }
}

TEST(CudaReduce, NanPropagates) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16}) {
    Tensor x = random_cpu({40, 3000}, dt, 77);
    // NaNs in a few rows, at different columns (one row has two).
    const Tensor nan = full({}, std::nan(""), dt);
    for (auto [r, c] : std::vector<std::pair<int64_t, int64_t>>{{3, 7}, {3, 2999}, {17, 0}, {39, 1500}}) {
      x.select(0, r).select(0, c).copy_(nan);
    }
    for (int64_t d : {0, 1}) {
      for (auto fn : {+[](const Tensor& t, int64_t k) { return max(t, {k}); },
                      +[](const Tensor& t, int64_t k) { return min(t, {k}); },
                      +[](const Tensor& t, int64_t k) { return sum(t, {k}); },
                      +[](const Tensor& t, int64_t k) { return argmax(t, k); },
                      +[](const Tensor& t, int64_t k) { return argmin(t, k); }}) {
        // Sums of mixed-sign data may nearly cancel: float32 gets an absolute floor.
        const Tol tol = dt == DType::Float32 ? Tol{1e-5, 1e-4} : cuda_test::approx_tol(dt);
        check_parity({x}, cuda_test::as_is, [&](const std::vector<Tensor>& v) { return fn(v[0], d); }, tol,
                     label("nan reduction dim " + std::to_string(d), dt, {40, 3000}));
      }
    }
  }
}

TEST(CudaReduce, EmptyReductions) {
  FF_SKIP_WITHOUT_CUDA();
  const Tensor x = zeros({0, 5}, DType::Float32);
  check_parity({x}, cuda_test::as_is, [](const std::vector<Tensor>& v) { return sum(v[0], {0}); }, kExact, "sum over empty");
  check_parity({x}, cuda_test::as_is, [](const std::vector<Tensor>& v) { return mean(v[0], {0}); }, kExact, "mean over empty (NaN)");
  check_parity({x}, cuda_test::as_is, [](const std::vector<Tensor>& v) { return sum(v[0], {1}); }, kExact, "sum to empty");
  EXPECT_THROW(max(x.to(cuda_test::gpu()), {0}), Error);
}

}  // namespace
}  // namespace ff

#endif  // FF_WITH_CUDA
