// Helpers for the CUDA tests: the skip rule, random inputs, and the CPU/CUDA parity harness.
//
// Every GPU test starts with FF_SKIP_WITHOUT_CUDA(): without a driver or device it skips with
// the reason printed (shared/reference/toolchain.md section 6), so the suite passes on the
// build machines and runs for real on a GPU machine (scripts/gpu_check.sh).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "ops/elementwise/binary.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

#ifdef FF_WITH_CUDA
#include <cuda_runtime.h>

// Skips the test (printing why) unless a CUDA device is usable.
#define FF_SKIP_WITHOUT_CUDA()                                                                          \
  do {                                                                                                  \
    int ff_n_ = 0;                                                                                      \
    const cudaError_t ff_e_ = cudaGetDeviceCount(&ff_n_);                                              \
    if (ff_e_ != cudaSuccess || ff_n_ == 0) {                                                           \
      (void)cudaGetLastError();                                                                         \
      GTEST_SKIP() << "no CUDA device: "                                                                \
                   << (ff_e_ != cudaSuccess ? cudaGetErrorString(ff_e_) : "cudaGetDeviceCount returned 0"); \
    }                                                                                                   \
  } while (0)
#endif

namespace ff::cuda_test {

inline Device gpu(int index = 0) { return Device(DeviceType::CUDA, index); }

// Every dtype but Bool: the types the arithmetic, reduction and indexing kernels are registered for.
inline const std::vector<DType> kNumericDTypes = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
                                                  DType::Int32,   DType::Int64,   DType::UInt8};

struct Tol {
  double rtol = 0.0;
  double atol = 0.0;
};
inline constexpr Tol kExact{0.0, 0.0};

// Tolerances for results that are not bit-identical (transcendentals, float sums): one or two
// ulps of the output type, plus a floor for values near zero.
inline Tol approx_tol(DType t) {
  switch (t) {
    case DType::Float64: return {1e-12, 1e-13};
    case DType::Float32: return {2e-6, 1e-6};
    case DType::Float16: return {2e-3, 1e-3};   // half ulp is 2^-10 ~ 9.8e-4 relative
    case DType::BFloat16: return {1.6e-2, 1e-2};  // bfloat16 ulp is 2^-7 ~ 7.8e-3 relative
    default: return kExact;
  }
}

// Expects equal shapes and dtypes and |cpu - gpu| <= atol + rtol * |cpu| elementwise; NaN must
// meet NaN and infinities must match exactly. Reports the first few mismatches.
inline void expect_close(const Tensor& cpu, const Tensor& gpu_result, Tol tol, const std::string& what) {
  ASSERT_TRUE(gpu_result.defined()) << what;
  ASSERT_TRUE(gpu_result.device().is_cuda()) << what << ": result is on " << gpu_result.device().str();
  ASSERT_EQ(shape_str(cpu.sizes()), shape_str(gpu_result.sizes())) << what;
  ASSERT_EQ(dtype_name(cpu.dtype()), dtype_name(gpu_result.dtype())) << what;
  const std::vector<double> a = to_vector<double>(cpu);
  const std::vector<double> b = to_vector<double>(gpu_result);
  int reported = 0;
  int64_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    bool ok;
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      ok = std::isnan(a[i]) && std::isnan(b[i]);
    } else if (std::isinf(a[i]) || std::isinf(b[i])) {
      ok = a[i] == b[i];
    } else {
      ok = std::fabs(a[i] - b[i]) <= tol.atol + tol.rtol * std::fabs(a[i]);
    }
    if (!ok) {
      ++bad;
      if (reported++ < 5) {
        ADD_FAILURE() << what << ": element " << i << " cpu " << a[i] << " cuda " << b[i] << " (rtol " << tol.rtol
                      << ", atol " << tol.atol << ")";
      }
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << a.size() << " elements differ";
}

// Random CPU data of `dtype` from a fixed seed: uniform in [lo, hi) for floating types and
// truncated to integers for integer types; bool is true with probability 1/2.
inline Tensor random_cpu(const Shape& shape, DType dtype, uint64_t seed, double lo = -2.0, double hi = 2.0) {
  Generator g(seed);
  Tensor u = uniform(shape, lo, hi, DType::Float64, Device(), &g);
  if (dtype == DType::Bool) return lt(u, full({}, (lo + hi) / 2, DType::Float64));
  return u.to(dtype);
}

// Non-negative integer-valued data (safe for every dtype, uint8 included).
inline Tensor random_small_ints(const Shape& shape, DType dtype, uint64_t seed, int limit = 5) {
  Generator g(seed);
  Tensor u = uniform(shape, 0.0, static_cast<double>(limit), DType::Float64, Device(), &g);
  return u.to(DType::Int64).to(dtype);
}

using ViewFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

inline std::vector<Tensor> as_is(const std::vector<Tensor>& t) { return t; }

// The parity harness: copies the CPU base tensors to the GPU, derives the same views of both
// (transposes, strided slices, ...), runs `op` on each side and compares the results.
inline void check_parity(const std::vector<Tensor>& cpu_bases, const ViewFn& view, const OpFn& op, Tol tol,
                         const std::string& what) {
  std::vector<Tensor> gpu_bases;
  for (const Tensor& b : cpu_bases) gpu_bases.push_back(b.to(gpu()));
  const Tensor expected = op(view(cpu_bases));
  const Tensor got = op(view(gpu_bases));
  expect_close(expected, got, tol, what);
}

inline std::string label(const std::string& op, DType t, const Shape& s) {
  return op + " " + dtype_name(t) + shape_str(s);
}

}  // namespace ff::cuda_test
