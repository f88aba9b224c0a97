// CUDA kernels of fill (any strided output) and arange (contiguous output).
//
// fill converts the value on the host exactly as the CPU kernel does and then writes bits (one
// kernel per element size; cudaMemsetAsync for zero bits in a contiguous tensor). arange
// evaluates start + i * step in double without FMA contraction, so values equal the CPU's.
#include <cstring>

#include "framework/dispatch/registry.h"
#include "ops/common/cuda_loops.cuh"
#include "ops/tensor_ops/fill.h"

namespace ff {
namespace {

template <typename U>
struct ConstFn {
  U bits;
  __device__ __forceinline__ U operator()() const { return bits; }
};

template <typename U>
void fill_bits(const Tensor& out, const void* value_bits) {
  U bits;
  std::memcpy(&bits, value_bits, sizeof(U));
  if (bits == U(0) && out.is_contiguous()) {
    cuda::DeviceGuard guard(out.device().index);
    FF_CUDA_CHECK(cudaMemsetAsync(out.raw_data(), 0, static_cast<size_t>(out.numel()) * sizeof(U),
                                  cuda::current_stream(out.device().index)));
    return;
  }
  cuda::gpu_map<U>(out, ConstFn<U>{bits}, "fill");
}

void fill_cuda(const Tensor& out, double value) {
  if (out.numel() == 0) return;
  FF_DISPATCH_ALL(out.dtype(), "fill", [&] {
    const scalar_t v = static_cast<scalar_t>(static_cast<acc_t<scalar_t>>(value));
    switch (sizeof(scalar_t)) {
      case 1: return fill_bits<uint8_t>(out, &v);
      case 2: return fill_bits<uint16_t>(out, &v);
      case 4: return fill_bits<uint32_t>(out, &v);
      case 8: return fill_bits<uint64_t>(out, &v);
    }
    FF_ASSERT(false, "fill: unexpected element size {}", sizeof(scalar_t));
  });
}

template <typename T>
__global__ void __launch_bounds__(cuda::kThreadsPerBlock)
    arange_kernel(T* __restrict__ out, int64_t n, double start, double step) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double v = __dadd_rn(start, __dmul_rn(static_cast<double>(i), step));
    out[i] = cuda::from_acc<T>(static_cast<cuda::dacc_t<T>>(v));
  }
}

void arange_cuda(const Tensor& out, double start, double step) {
  FF_ASSERT(out.is_contiguous(), "arange: output {} must be contiguous", out.describe());
  const int64_t n = out.numel();
  if (n == 0) return;
  const int device = out.device().index;
  FF_DISPATCH_ALL(out.dtype(), "arange", [&] {
    using T = cuda::device_t<scalar_t>;
    cuda::DeviceGuard guard(device);
    arange_kernel<T><<<cuda::grid_for(n, device), cuda::kThreadsPerBlock, 0, cuda::current_stream(device)>>>(
        static_cast<T*>(out.raw_data()), n, start, step);
    FF_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

FF_REGISTER_KERNEL(fill, CUDA, dispatch::kAllTypes, &fill_cuda);
FF_REGISTER_KERNEL(arange, CUDA, dispatch::kAllTypes, &arange_cuda);

}  // namespace ff
