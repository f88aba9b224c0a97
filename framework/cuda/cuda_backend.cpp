// The CUDA DeviceBackend: registered from a static initialiser that never touches the driver
// (registration only stores a pointer), so a CUDA build loads and runs CPU work on machines
// without a GPU; device_count() is then 0 and allocating on cuda raises an ff::Error that
// says why (see check_device).
//
// Copies are issued on the current stream of the device involved:
//   host -> device: blocks until the copy has completed, so the caller may free or change the
//                   host buffer at once (use copy_pinned_to_device_async for overlap);
//   device -> host: blocks until the data has arrived (the caller reads it next);
//   device -> device (same device): stream-ordered, does not block the host;
//   device -> device (two devices): waits for both devices' current streams.
#include "framework/cuda/caching_allocator.h"
#include "framework/cuda/cuda_runtime.h"

namespace ff::cuda {
namespace {

class CudaBackend final : public DeviceBackend {
 public:
  DeviceType type() const override { return DeviceType::CUDA; }
  Allocator& allocator() override { return device_allocator(); }
  int device_count() const override { return ::ff::cuda::device_count(); }

  void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) override {
    FF_ASSERT(dst_device.is_cuda() || src_device.is_cuda(), "CUDA backend asked to copy {} -> {}",
              src_device.str(), dst_device.str());
    if (nbytes == 0) return;
    if (dst_device.is_cpu()) {  // device -> host
      DeviceGuard guard(src_device.index);
      const cudaStream_t s = current_stream(src_device.index);
      FF_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, s));
      FF_CUDA_CHECK(cudaStreamSynchronize(s));
    } else if (src_device.is_cpu()) {  // host -> device
      DeviceGuard guard(dst_device.index);
      const cudaStream_t s = current_stream(dst_device.index);
      FF_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, s));
      FF_CUDA_CHECK(cudaStreamSynchronize(s));
    } else if (src_device.index == dst_device.index) {
      DeviceGuard guard(dst_device.index);
      FF_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, current_stream(dst_device.index)));
    } else {
      // The source's producers must be done before the copy, and the source may be freed (and
      // its memory reused on its own stream) as soon as we return: synchronise both sides.
      const cudaStream_t ss = current_stream(src_device.index);
      const cudaStream_t ds = current_stream(dst_device.index);
      {
        DeviceGuard guard(src_device.index);
        FF_CUDA_CHECK(cudaStreamSynchronize(ss));
      }
      DeviceGuard guard(dst_device.index);
      FF_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device.index, src, src_device.index, nbytes, ds));
      FF_CUDA_CHECK(cudaStreamSynchronize(ds));
    }
  }

  void synchronize(int device_index) override {
    DeviceGuard guard(device_index);
    FF_CUDA_CHECK(cudaDeviceSynchronize());
  }

  void set_current_device(int device_index) override { set_device(device_index); }
};

DeviceBackend& cuda_backend() {
  static CudaBackend* b = new CudaBackend();  // never destroyed: static tensors outlive main()
  return *b;
}

// Runs when libfaceflow is loaded. No CUDA call here.
[[maybe_unused]] const bool g_registered = [] {
  register_backend(DeviceType::CUDA, &cuda_backend());
  return true;
}();

}  // namespace
}  // namespace ff::cuda
