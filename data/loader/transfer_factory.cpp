#include "data/loader/transfer_factory.h"

#include "data/loader/pinned_host_buffer.h"
#include "framework/common/check.h"

#ifdef FF_WITH_CUDA
#include "data/loader/cuda_transfer.h"
#include "framework/cuda/cuda_runtime.h"
#endif

namespace ff::data {
namespace {

void check_supported(Device device, const char* what) {
  if (device.is_cpu()) return;
  FF_CHECK(device.is_cuda(), "{}: no loader support for device {}", what, device.str());
#ifdef FF_WITH_CUDA
  ff::cuda::check_device(device.index, what);  // "<what> on cuda:N: <why not>"
#else
  FF_THROW("{}: device {} needs a build with CUDA (configure with -DFF_WITH_CUDA=ON)", what, device.str());
#endif
}

}  // namespace

std::shared_ptr<HostBufferAllocator> make_host_buffer_allocator(Device device) {
  check_supported(device, "make_host_buffer_allocator");
  if (device.is_cpu()) return default_host_buffer_allocator();
  return std::make_shared<PinnedHostBufferAllocator>(device.index);
}

std::shared_ptr<BatchTransfer> make_batch_transfer(Device device) {
  check_supported(device, "make_batch_transfer");
#ifdef FF_WITH_CUDA
  if (device.is_cuda()) return std::make_shared<CudaAsyncTransfer>(device);
#endif
  return std::make_shared<SynchronousTransfer>(device);
}

}  // namespace ff::data
