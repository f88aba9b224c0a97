// CUDA copy kernel: strided (and broadcast) copies on one device, with casts between all
// dtypes. Same-dtype copies move bits (one kernel per element size, or a cudaMemcpyAsync when
// both sides are contiguous); casts go source -> compute type -> destination compute type ->
// destination like the CPU kernel, so float <-> half/bfloat16 casts give the CPU's bits.
// Float-to-integer casts of out-of-range values and NaN are undefined in C++: the GPU saturates
// (NaN -> 0) where x86 gives the "integer indefinite" value, so the two may differ there.
#include <cstring>

#include "framework/dispatch/registry.h"
#include "ops/common/cuda_loops.cuh"
#include "ops/tensor_ops/copy.h"

namespace ff {
namespace {

template <typename D, typename S>
struct CastFn {
  __device__ __forceinline__ D operator()(S v) const { return cuda::convert<D, S>(v); }
};

template <typename U>
struct BitsFn {
  __device__ __forceinline__ U operator()(U v) const { return v; }
};

template <typename U>
void copy_bits(const Tensor& dst, const Tensor& src) {
  cuda::gpu_map<U, U>(dst, src, BitsFn<U>{}, "copy");
}

void copy_cuda(const Tensor& dst, const Tensor& src) {
  FF_ASSERT(dst.device() == src.device(), "copy: {} and {} on different devices", dst.describe(), src.describe());
  FF_ASSERT(src.sizes() == dst.sizes(), "copy: source {} not expanded to {}", src.describe(), dst.describe());
  if (dst.numel() == 0) return;
  if (dst.dtype() == src.dtype()) {
    if (dst.is_contiguous() && src.is_contiguous()) {
      if (dst.raw_data() == src.raw_data()) return;
      cuda::DeviceGuard guard(dst.device().index);
      FF_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), static_cast<size_t>(dst.numel()) * dst.element_size(),
                                    cudaMemcpyDeviceToDevice, cuda::current_stream(dst.device().index)));
      return;
    }
    switch (dst.element_size()) {
      case 1: return copy_bits<uint8_t>(dst, src);
      case 2: return copy_bits<uint16_t>(dst, src);
      case 4: return copy_bits<uint32_t>(dst, src);
      case 8: return copy_bits<uint64_t>(dst, src);
      default: FF_ASSERT(false, "copy: unexpected element size {}", dst.element_size());
    }
  }
  FF_DISPATCH_ALL(dst.dtype(), "copy", [&] {
    using D = cuda::device_t<scalar_t>;
    FF_DISPATCH_ALL(src.dtype(), "copy", [&] {
      using S = cuda::device_t<scalar_t>;
      cuda::gpu_map<D, S>(dst, src, CastFn<D, S>{}, "copy");
    });
  });
}

}  // namespace

FF_REGISTER_KERNEL(copy, CUDA, dispatch::kAllTypes, &copy_cuda);

}  // namespace ff
