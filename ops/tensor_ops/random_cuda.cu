// CUDA kernel of the random fills (uniform and normal), bit-compatible with random.cpp.
//
// Uniform value i is philox(seed, counter + i / 4) word i % 4, scaled as a + (b - a) * u in
// double without FMA contraction: every dtype gets exactly the CPU's value. Normal value i is
// Box-Muller on uniforms 2i and 2i + 1 with the CPU's formula and evaluation order; only the
// libdevice log/cos differ from glibc's (by at most an ulp of a double), so float results are
// almost always identical and double results agree to ~1e-15.
#include <cmath>

#include "framework/dispatch/registry.h"
#include "ops/common/cuda_loops.cuh"
#include "ops/tensor_ops/philox.h"
#include "ops/tensor_ops/random.h"

namespace ff {
namespace {

// One thread per Philox block: 4 uniform values, or 2 normal values.
template <typename T>
__global__ void __launch_bounds__(cuda::kThreadsPerBlock)
    random_kernel(T* __restrict__ out, int64_t n, uint64_t seed, uint64_t counter, bool normal, double a, double b) {
  const int64_t per_block = normal ? 2 : 4;
  const int64_t groups = (n + per_block - 1) / per_block;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += stride) {
    const cuda::Philox4 r = cuda::philox4x32_10(seed, counter + static_cast<uint64_t>(g), 0);
    if (!normal) {
      const double width = b - a;
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const int64_t i = 4 * g + k;
        if (i < n) {
          const double v = __dadd_rn(a, __dmul_rn(width, static_cast<double>(cuda::unit_float(r.w[k]))));
          out[i] = cuda::from_acc<T>(static_cast<cuda::dacc_t<T>>(v));
        }
      }
    } else {
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const int64_t i = 2 * g + k;
        if (i < n) {
          // Uniforms 2i and 2i + 1 are words 2k and 2k + 1 of block (2i) / 4 = g.
          const double u1 = 1.0 - static_cast<double>(cuda::unit_float(r.w[2 * k]));
          const double u2 = static_cast<double>(cuda::unit_float(r.w[2 * k + 1]));
          const double radius = ::sqrt(__dmul_rn(-2.0, ::log(u1)));
          const double angle = ::cos(__dmul_rn(2.0 * M_PI, u2));
          const double v = __dadd_rn(a, __dmul_rn(__dmul_rn(b, radius), angle));
          out[i] = cuda::from_acc<T>(static_cast<cuda::dacc_t<T>>(v));
        }
      }
    }
  }
}

void random_cuda(const Tensor& out, uint64_t seed, uint64_t counter, RandomKind kind, double a, double b) {
  FF_ASSERT(out.is_contiguous(), "random: output {} must be contiguous", out.describe());
  const int64_t n = out.numel();
  if (n == 0) return;
  const int device = out.device().index;
  const bool normal = kind == RandomKind::Normal;
  const int64_t groups = cuda::ceil_div(n, normal ? 2 : 4);
  FF_DISPATCH_FLOATING(out.dtype(), "random", [&] {
    using T = cuda::device_t<scalar_t>;
    cuda::DeviceGuard guard(device);
    random_kernel<T><<<cuda::grid_for(groups, device), cuda::kThreadsPerBlock, 0, cuda::current_stream(device)>>>(
        static_cast<T*>(out.raw_data()), n, seed, counter, normal, a, b);
    FF_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

FF_REGISTER_KERNEL(random, CUDA, dispatch::kFloatingTypes, &random_cuda);

}  // namespace ff
