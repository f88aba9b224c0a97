// make_host_buffer_allocator / make_batch_transfer: what the trainer gets for its device.
// CPU: the default allocator and a synchronous no-op transfer. CUDA: pinned buffers and the
// side-stream transfer where a device exists; a clear ff::Error where it cannot (no CUDA in the
// build, no device on the machine). The CUDA behaviour itself is tested in tests/cuda_data/.
#include <gtest/gtest.h>

#include "data/loader/pinned_host_buffer.h"
#include "data/loader/transfer_factory.h"

#ifdef FF_WITH_CUDA
#include "data/loader/cuda_transfer.h"
#include "framework/cuda/cuda_runtime.h"
#endif

namespace ff::data {
namespace {

TEST(TransferFactory, CpuIsTheDefaultAllocatorAndASynchronousNoOp) {
  EXPECT_EQ(make_host_buffer_allocator(Device()), default_host_buffer_allocator());
  const auto transfer = make_batch_transfer(Device());
  ASSERT_NE(dynamic_cast<SynchronousTransfer*>(transfer.get()), nullptr);

  Batch batch;
  batch.images = Tensor::empty({2, 3, 4, 4});
  batch.images.fill_(0.5);
  batch.labels = Tensor::empty({2}, DType::Int64);
  batch.labels.fill_(3);
  const Tensor images = batch.images, labels = batch.labels;
  transfer->start(batch);
  transfer->finish(batch);
  // Nothing moved, nothing copied: the very same tensors.
  EXPECT_TRUE(batch.images.is_same(images));
  EXPECT_TRUE(batch.labels.is_same(labels));
  EXPECT_FALSE(batch.host_labels.defined()) << "the labels never left the host";
  EXPECT_EQ(batch.transfer_state, nullptr);
}

TEST(TransferFactory, CudaDeviceGetsPinnedAsyncOrAClearError) {
  const Device gpu(DeviceType::CUDA, 0);
  bool have_device = false;
#ifdef FF_WITH_CUDA
  have_device = ff::cuda::is_available();
#endif
  if (have_device) {
#ifdef FF_WITH_CUDA
    const auto alloc = make_host_buffer_allocator(gpu);
    auto* pinned = dynamic_cast<PinnedHostBufferAllocator*>(alloc.get());
    ASSERT_NE(pinned, nullptr);
    EXPECT_TRUE(pinned->pinned());
    const auto transfer = make_batch_transfer(gpu);
    ASSERT_NE(dynamic_cast<CudaAsyncTransfer*>(transfer.get()), nullptr);
#endif
    return;
  }
  for (int which = 0; which < 2; ++which) {
    try {
      if (which == 0) make_host_buffer_allocator(gpu);
      if (which == 1) make_batch_transfer(gpu);
      FAIL() << "expected ff::Error for cuda:0 without a usable device";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(which == 0 ? "make_host_buffer_allocator" : "make_batch_transfer"), std::string::npos)
          << msg;
#ifndef FF_WITH_CUDA
      EXPECT_NE(msg.find("needs a build with CUDA"), std::string::npos) << msg;
#endif
    }
  }
}

}  // namespace
}  // namespace ff::data
