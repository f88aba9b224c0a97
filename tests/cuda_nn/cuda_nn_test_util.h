// Helpers for the CUDA NN-kernel parity tests: the skip rule, host<->device copies, random
// inputs and closeness checks against the CPU reference kernels.
//
// Every test starts with FF_SKIP_WITHOUT_CUDA(): it skips (and prints why) when the build has no
// CUDA backend or cudaGetDeviceCount fails / reports no device (toolchain.md section 6). The
// tests call kernels through the dispatcher (the same entry the ops use), so they depend only
// on the CUDA runtime (allocator, copies, streams, handles), not on other CUDA kernels.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#ifdef FF_WITH_CUDA
#include <cuda_runtime.h>
#endif

#include "framework/core/tensor.h"
#include "framework/dispatch/registry.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace ff::cuda_test {

// True when CUDA kernels can run here; otherwise `why` says what is missing.
inline bool cuda_usable(std::string* why) {
#ifdef FF_WITH_CUDA
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess || n == 0) {
    *why = std::string("no CUDA device: cudaGetDeviceCount returned ") + cudaGetErrorName(err) + " (" +
           cudaGetErrorString(err) + "), count " + std::to_string(n);
    return false;
  }
  return true;
#else
  *why = "built without CUDA (FF_WITH_CUDA=OFF)";
  return false;
#endif
}

inline Device cuda0() { return Device(DeviceType::CUDA, 0); }

// A contiguous copy on the GPU / on the host.
inline Tensor to_gpu(const Tensor& t) { return t.contiguous().to(cuda0()); }
inline Tensor to_host(const Tensor& t) { return t.to(Device()); }

// Uniform [lo, hi) values rounded to `dtype`, on the CPU.
inline Tensor rand_cpu(const Shape& shape, uint64_t seed, DType dtype = DType::Float32, double lo = -1.0,
                       double hi = 1.0) {
  Generator g(seed);
  Tensor t = uniform(shape, lo, hi, DType::Float32, Device(), &g);
  return dtype == DType::Float32 ? t : t.to(dtype);
}

// Empty tensors of the same shape and dtype on the host and on the GPU.
inline Tensor empty_cpu(const Shape& s, DType t) { return Tensor::empty(s, t, Device()); }
inline Tensor empty_gpu(const Shape& s, DType t) { return Tensor::empty(s, t, cuda0()); }

// Runs kernel `op` of type Fn for (device, dtype) with `args`.
template <typename Fn, typename... Args>
void run(const char* op, DeviceType device, DType dtype, Args&&... args) {
  dispatch::OpHandle h(op);
  h.kernel<Fn>(device, dtype)(std::forward<Args>(args)...);
}

// |gpu - cpu| <= atol + rtol * |cpu| element by element; NaN matches NaN, inf matches inf.
inline ::testing::AssertionResult close(const Tensor& gpu_result, const Tensor& cpu_ref, double atol, double rtol,
                                        const std::string& what = "") {
  const Tensor g = gpu_result.device().is_cpu() ? gpu_result : to_host(gpu_result);
  if (g.sizes() != cpu_ref.sizes()) {
    return ::testing::AssertionFailure() << what << ": shape " << shape_str(g.sizes()) << " vs "
                                         << shape_str(cpu_ref.sizes());
  }
  const std::vector<double> a = to_vector<double>(g), e = to_vector<double>(cpu_ref);
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(e[i])) continue;
    if (std::isinf(e[i]) && a[i] == e[i]) continue;
    const double err = std::abs(a[i] - e[i]);
    if (!(err <= atol + rtol * std::abs(e[i]))) {
      return ::testing::AssertionFailure() << what << ": element " << i << " of " << a.size() << ": gpu " << a[i]
                                           << " vs cpu " << e[i] << " (atol " << atol << ", rtol " << rtol << ")";
    }
    worst = std::max(worst, err);
  }
  return ::testing::AssertionSuccess() << what << ": max abs error " << worst;
}

// Bitwise equality of two tensors (both brought to the host), except that any NaN matches any
// NaN: the GPU's canonical NaN (all mantissa bits set, e.g. from max.NaN or __float2half_rn)
// differs in payload from the CPU's quiet NaN, which is not a difference in value.
inline ::testing::AssertionResult bit_equal(const Tensor& a, const Tensor& b, const std::string& what = "") {
  const Tensor ha = to_host(a).contiguous(), hb = to_host(b).contiguous();
  if (ha.sizes() != hb.sizes() || ha.dtype() != hb.dtype()) {
    return ::testing::AssertionFailure() << what << ": " << ha.describe() << " vs " << hb.describe();
  }
  const size_t es = ha.element_size();
  const auto* pa = static_cast<const char*>(ha.raw_data());
  const auto* pb = static_cast<const char*>(hb.raw_data());
  if (ha.numel() == 0 || std::memcmp(pa, pb, static_cast<size_t>(ha.numel()) * es) == 0) {
    return ::testing::AssertionSuccess();
  }
  const std::vector<double> va = to_vector<double>(ha), vb = to_vector<double>(hb);
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) && std::isnan(vb[i])) continue;
    if (std::memcmp(pa + i * es, pb + i * es, es) != 0) {
      return ::testing::AssertionFailure() << what << ": first differing element " << i << ": " << va[i] << " vs "
                                           << vb[i];
    }
  }
  return ::testing::AssertionSuccess() << what << ": equal (NaN payloads differ)";
}

// Tolerances per dtype for results that went through one rounding to the storage type and a
// different summation order: (atol, rtol) scaled by `magnitude` (the typical |value|).
struct Tol {
  double atol, rtol;
};
inline Tol tol_for(DType t, double magnitude = 1.0) {
  switch (t) {
    case DType::Float64: return {1e-10 * magnitude, 1e-10};
    case DType::Float32: return {2e-5 * magnitude, 2e-5};
    case DType::Float16: return {4e-3 * magnitude, 4e-3};
    case DType::BFloat16: return {3e-2 * magnitude, 2e-2};
    default: return {0.0, 0.0};
  }
}

inline const std::vector<DType>& float_types() {
  static const std::vector<DType> t = {DType::Float32, DType::Float16, DType::BFloat16, DType::Float64};
  return t;
}

}  // namespace ff::cuda_test

#define FF_SKIP_WITHOUT_CUDA()                                               \
  do {                                                                       \
    std::string ff_why_;                                                     \
    if (!::ff::cuda_test::cuda_usable(&ff_why_)) {                           \
      std::printf("[  SKIP WHY ] %s\n", ff_why_.c_str());                    \
      GTEST_SKIP() << ff_why_;                                               \
    }                                                                        \
  } while (0)
