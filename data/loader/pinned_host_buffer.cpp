#include "data/loader/pinned_host_buffer.h"

#ifdef FF_WITH_CUDA
#include "framework/cuda/cuda_runtime.h"
#include "framework/cuda/pinned_allocator.h"
#endif

namespace ff::data {

PinnedHostBufferAllocator::PinnedHostBufferAllocator(int device) : device_(device) {
#ifdef FF_WITH_CUDA
  // cudaHostAlloc needs a driver and a device; without them the pinned allocator would fall
  // back block by block (and warn), so decide once and say so in name().
  pinned_ = ff::cuda::is_available();
  if (!pinned_) fallback_reason_ = "no CUDA device: " + ff::cuda::unavailable_reason();
  if (pinned_ && device_ >= 0) ff::cuda::check_device(device_, "PinnedHostBufferAllocator");
#else
  fallback_reason_ = "built without CUDA (FF_WITH_CUDA=OFF)";
#endif
  name_ = pinned_ ? "pinned host memory (cudaHostAlloc, cached)" : "pageable host memory (" + fallback_reason_ + ")";
}

Tensor PinnedHostBufferAllocator::allocate(const Shape& shape, DType dtype) {
#ifdef FF_WITH_CUDA
  if (pinned_) {
    if (device_ < 0) return Tensor::empty(shape, dtype, ff::cuda::pinned_allocator(), Device());
    // cudaHostAlloc needs a current context: the loader's device, never a fresh one on GPU 0
    // (see "Threads and devices" in cuda_transfer.h).
    ff::cuda::DeviceGuard device_guard(device_);
    return Tensor::empty(shape, dtype, ff::cuda::pinned_allocator(), Device());
  }
#endif
  return Tensor::empty(shape, dtype, Device());
}

bool is_pinned_tensor(const Tensor& t) {
#ifdef FF_WITH_CUDA
  return t.defined() && t.device().is_cpu() && ff::cuda::is_pinned(t.storage()->data());
#else
  (void)t;
  return false;
#endif
}

}  // namespace ff::data
