// CUDA vs CPU parity of index_select, gather, scatter_add, one_hot and concat, including strided
// inputs and indices, int32/int64 indices, duplicate indices, and the range-check errors.
//
// Tolerances: data movement is exact; scatter_add is exact on its deterministic (sliced) path,
// which adds in the CPU's order, and within float rounding on its atomic path.
#include <gtest/gtest.h>

#ifdef FF_WITH_CUDA

#include <functional>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "framework/cuda/cuda_runtime.h"
#include "ops/index/index.h"
#include "ops/reduce/reduce.h"
#include "ops/shape/shape.h"

namespace ff {
namespace {

using cuda_test::check_parity;
using cuda_test::gpu;
using cuda_test::kExact;
using cuda_test::kNumericDTypes;
using cuda_test::label;
using cuda_test::random_cpu;
using cuda_test::random_small_ints;

const std::vector<DType> kAll = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
                                 DType::Int32,   DType::Int64,   DType::UInt8,   DType::Bool};

Tensor values(const Shape& s, DType dt, uint64_t seed) {
  return is_floating(dt) || dt == DType::Bool ? random_cpu(s, dt, seed) : random_small_ints(s, dt, seed, 100);
}

// Restores the deterministic switch after a test.
struct DeterministicGuard {
  bool saved = cuda::deterministic();
  ~DeterministicGuard() { cuda::set_deterministic(saved); }
};

TEST(CudaIndex, IndexSelectMatchesCpu) {
  FF_SKIP_WITHOUT_CUDA();
  uint64_t seed = 1;
  for (DType dt : kAll) {
    for (DType it : {DType::Int64, DType::Int32}) {
      const Tensor x = values({33, 65}, dt, ++seed);
      for (int64_t dim : {0, 1}) {
        const Tensor idx = random_small_ints({40}, it, ++seed, static_cast<int>(x.size(dim)));  // duplicates
        check_parity({x, idx}, cuda_test::as_is,
                     [dim](const std::vector<Tensor>& v) { return index_select(v[0], dim, v[1]); }, kExact,
                     label("index_select dim " + std::to_string(dim), dt, {33, 65}));
        // Transposed x ([65, 33]) and a step-sliced index (values < 33 fit either dim).
        const Tensor small_idx = random_small_ints({40}, it, ++seed, 33);
        check_parity({x, small_idx},
                     [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].t(), v[1].slice(0, 1, 40, 3)}; },
                     [dim](const std::vector<Tensor>& v) { return index_select(v[0], dim, v[1]); }, kExact,
                     label("index_select strided dim " + std::to_string(dim), dt, {65, 33}));
      }
      const Tensor x3 = values({3, 5, 7}, dt, ++seed);
      const Tensor idx3 = random_small_ints({9}, it, ++seed, 5);
      check_parity({x3, idx3}, cuda_test::as_is, [](const std::vector<Tensor>& v) { return index_select(v[0], 1, v[1]); },
                   kExact, label("index_select dim 1", dt, {3, 5, 7}));
    }
  }
}

TEST(CudaIndex, GatherMatchesCpu) {
  FF_SKIP_WITHOUT_CUDA();
  uint64_t seed = 100;
  for (DType dt : kAll) {
    for (DType it : {DType::Int64, DType::Int32}) {
      const Tensor x = values({3, 5, 7}, dt, ++seed);
      for (int64_t dim : {0, 1, 2}) {
        // index may exceed x along dim and be smaller elsewhere.
        Shape is = {2, 4, 6};
        is[dim] = 9;
        const Tensor idx = random_small_ints(is, it, ++seed, static_cast<int>(x.size(dim)));
        check_parity({x, idx}, cuda_test::as_is,
                     [dim](const std::vector<Tensor>& v) { return gather(v[0], dim, v[1]); }, kExact,
                     label("gather dim " + std::to_string(dim), dt, {3, 5, 7}));
      }
      // Margin-loss shape: one label per row of [33, 65] logits, index transposed from [1, 33].
      const Tensor logits = values({33, 65}, dt, ++seed);
      const Tensor labels = random_small_ints({1, 33}, it, ++seed, 65);
      check_parity({logits, labels}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0], v[1].t()}; },
                   [](const std::vector<Tensor>& v) { return gather(v[0], 1, v[1]); }, kExact,
                   label("gather labels", dt, {33, 65}));
    }
  }
}

TEST(CudaIndex, ScatterAddDeterministicPathIsExact) {
  FF_SKIP_WITHOUT_CUDA();
  DeterministicGuard guard;
  cuda::set_deterministic(true);
  uint64_t seed = 200;
  for (DType dt : kNumericDTypes) {
    for (int64_t dim : {0, 1, 2}) {
      const Tensor x = values({3, 5, 7}, dt, ++seed);
      Shape is = {2, 4, 6};
      is[dim] = 11;  // many duplicates along dim
      const Tensor idx = random_small_ints(is, DType::Int64, ++seed, static_cast<int>(x.size(dim)));
      const Tensor src = values(is, dt, ++seed);
      check_parity({x, idx, src}, cuda_test::as_is,
                   [dim](const std::vector<Tensor>& v) { return scatter_add(v[0], dim, v[1], v[2]); }, kExact,
                   label("scatter_add dim " + std::to_string(dim), dt, {3, 5, 7}));
    }
    // index_select's backward: the index broadcast along the row (stride 0), strided src.
    const Tensor g = values({65, 40}, dt, ++seed);
    const Tensor rows = random_small_ints({40, 1}, DType::Int32, ++seed, 33);
    check_parity({g, rows},
                 [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].t(), v[1].expand({40, 65})}; },
                 [dt](const std::vector<Tensor>& v) {
                   return scatter_add(zeros({33, 65}, dt, v[0].device()), 0, v[1], v[0]);
                 },
                 kExact, label("scatter_add broadcast index", dt, {33, 65}));
  }
}

TEST(CudaIndex, ScatterAddAtomicPath) {
  FF_SKIP_WITHOUT_CUDA();
  DeterministicGuard guard;
  cuda::set_deterministic(false);
  // One long 1-D scatter (a single slice of 150000 elements) takes the atomic path. With 0/1
  // values every partial sum is a small integer (< 256), exact in every dtype, so the result
  // cannot depend on the order of the atomic additions.
  const int64_t n = 150000;
  const Tensor idx = random_small_ints({n}, DType::Int64, 300, 1000);
  for (DType dt : kNumericDTypes) {
    const Tensor x = zeros({1000}, dt);
    const Tensor src = random_small_ints({n}, dt, 301, 2);
    check_parity({x, idx, src}, cuda_test::as_is,
                 [](const std::vector<Tensor>& v) { return scatter_add(v[0], 0, v[1], v[2]); }, kExact,
                 label("scatter_add atomic", dt, {1000}));
  }
  // Fractional values: the order of additions changes float rounding only.
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor x = zeros({1000}, dt);
    const Tensor src = random_cpu({n}, dt, 302, 0.0, 1.0);
    const cuda_test::Tol tol = dt == DType::Float32 ? cuda_test::Tol{1e-5, 1e-4} : cuda_test::Tol{1e-12, 1e-12};
    check_parity({x, idx, src}, cuda_test::as_is,
                 [](const std::vector<Tensor>& v) { return scatter_add(v[0], 0, v[1], v[2]); }, tol,
                 label("scatter_add atomic fractional", dt, {1000}));
  }
}

TEST(CudaIndex, OneHotMatchesCpu) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : kAll) {
    for (const Shape& s : std::vector<Shape>{{7}, {3, 5}, {}}) {
      const Tensor labels = random_small_ints(s, DType::Int64, 400, 10);
      check_parity({labels}, cuda_test::as_is, [dt](const std::vector<Tensor>& v) { return one_hot(v[0], 10, dt); },
                   kExact, label("one_hot", dt, s));
    }
  }
}

TEST(CudaIndex, ConcatMatchesCpu) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : kAll) {
    const Tensor a = values({3, 5, 7}, dt, 500), b = values({3, 2, 7}, dt, 501), c = values({7, 3, 1}, dt, 502);
    for (int64_t dim : {0, 1, 2}) {
      Shape sb = {3, 5, 7};
      sb[dim] = 2;
      const Tensor bb = values(sb, dt, 503);
      check_parity({a, bb}, cuda_test::as_is, [dim](const std::vector<Tensor>& v) { return concat({v[0], v[1], v[0]}, dim); },
                   kExact, label("concat dim " + std::to_string(dim), dt, {3, 5, 7}));
    }
    // A strided input (c permuted to [3, 1, 7]) between contiguous ones.
    check_parity({a, b, c},
                 [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0], v[1], v[2].permute({1, 2, 0})}; },
                 [](const std::vector<Tensor>& v) { return concat({v[0], v[2], v[1]}, 1); }, kExact,
                 label("concat strided", dt, {3, 8, 7}));
  }
}

// Out-of-range indices: the same ff::Error as on the CPU (op, value, position, range).
TEST(CudaIndex, RangeErrorsNameTheOpValueAndPosition) {
  FF_SKIP_WITHOUT_CUDA();
  const Tensor x = ones({4, 6}, DType::Float32, gpu());
  auto expect_error = [](const std::function<void()>& f, const std::vector<std::string>& parts) {
    try {
      f();
      ADD_FAILURE() << "expected an ff::Error mentioning " << parts[0];
    } catch (const Error& e) {
      const std::string msg = e.what();
      for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
    }
  };
  const Tensor bad = tensor_from(std::vector<int64_t>{0, 3, 4, 7, 1}, {5}, gpu());
  expect_error([&] { index_select(x, 0, bad); }, {"index_select", "index 4", "position [2]", "valid range [0, 4)"});
  const Tensor neg = tensor_from(std::vector<int64_t>{0, -1}, {2}, gpu()).to(DType::Int32);
  expect_error([&] { index_select(x, 1, neg); }, {"index_select", "index -1", "position [1]", "negative indices"});
  const Tensor g = tensor_from(std::vector<int64_t>{0, 1, 2, 3, 4, 6}, {2, 3}, gpu());
  expect_error([&] { gather(x, 1, g); }, {"gather", "index 6", "position [1, 2]", "valid range [0, 6)"});
  expect_error([&] { scatter_add(x, 0, g, ones({2, 3}, DType::Float32, gpu())); },
               {"scatter_add", "index 4", "position [1, 1]", "valid range [0, 4)"});
  expect_error([&] { one_hot(bad, 5); }, {"one_hot", "label 7", "position [3]", "valid labels [0, 5)"});
  // The device is still usable and nothing is left pending.
  EXPECT_EQ(sum(x).item<float>(), 24.0f);
}

}  // namespace
}  // namespace ff

#endif  // FF_WITH_CUDA
