// A training batch and the two hooks through which a device backend takes part in loading:
//
//   HostBufferAllocator  where batches are assembled. The default returns ordinary CPU tensors
//                        (the CPU backend's 64-byte aligned host memory). A CUDA backend plugs
//                        in page-locked memory here (cudaHostAlloc, or cudaHostRegister on a
//                        pooled CPU buffer) so that the host-to-device copy can be asynchronous,
//                        the role of pin_memory=True in arcface_torch.
//   BatchTransfer        moves a finished batch to the training device. start() runs on the
//                        worker thread right after the batch is assembled (so the copy overlaps
//                        decoding and the training step); finish() runs on the consumer thread in
//                        DataLoader::next() just before the batch is returned. A CUDA
//                        implementation issues cudaMemcpyAsync on a side stream and records an
//                        event in start(), and makes the compute stream wait on that event in
//                        finish(): arcface_torch's DataLoaderX (side stream + wait_stream).
//
// Implementations: here the default allocator and SynchronousTransfer (no-op for the CPU; a
// blocking Tensor::to(device) for any other registered backend); the pinned allocator in
// pinned_host_buffer.h and the side-stream CudaAsyncTransfer in cuda_transfer.h.
// transfer_factory.h picks the right pair for a training device.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "framework/core/tensor.h"

namespace ff::data {

struct Batch {
  Tensor images;  // [B, 3, H, W] float32 or float16, contiguous, RGB, (x - 127.5) / 127.5
  Tensor labels;  // [B] int64 identity labels
  // The same labels on the host when a BatchTransfer moved `labels` to a device (undefined
  // otherwise): consumers that need them on the host (Partial FC's class sampling) read these
  // instead of copying them back, which would wait for every kernel queued before.
  Tensor host_labels;
  std::vector<int64_t> record_indices;  // the record behind each row (a substitute's, see DataLoader)
  int64_t epoch = 0;
  int64_t index = 0;        // batch number within the epoch, from 0
  int64_t bad_records = 0;  // bad records replaced in this batch (OnBadRecord::SkipAndCount)
  std::shared_ptr<void> transfer_state;  // BatchTransfer's per-batch state (e.g. a CUDA event)

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

class HostBufferAllocator {
 public:
  virtual ~HostBufferAllocator() = default;
  // A contiguous CPU tensor of `shape` and `dtype`, to be filled by a loader worker. Called
  // from worker threads concurrently.
  virtual Tensor allocate(const Shape& shape, DType dtype) = 0;
  virtual const char* name() const = 0;
};

// Tensor::empty on the CPU. Shared, stateless.
std::shared_ptr<HostBufferAllocator> default_host_buffer_allocator();

class BatchTransfer {
 public:
  virtual ~BatchTransfer() = default;
  // Worker thread, once per batch: begin moving it (may replace images/labels with device tensors).
  virtual void start(Batch& batch) = 0;
  // Consumer thread, before the batch is handed out: make its tensors safe to use.
  virtual void finish(Batch& batch) = 0;
};

// Copies with Tensor::to(device) in start() (nothing to do for the CPU); finish() is a no-op.
class SynchronousTransfer final : public BatchTransfer {
 public:
  explicit SynchronousTransfer(Device device = Device()) : device_(device) {}
  void start(Batch& batch) override;
  void finish(Batch& batch) override {}

 private:
  Device device_;
};

}  // namespace ff::data
