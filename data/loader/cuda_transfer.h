// CudaAsyncTransfer: the BatchTransfer of CUDA training, arcface_torch's DataLoaderX.
//
//   start(batch)   worker thread, right after assembly. Allocates the device tensors on the
//                  device's copy stream (one non-blocking side stream per device, shared by all
//                  workers and loaders), enqueues cudaMemcpyAsync of images [B, 3, H, W] and
//                  labels [B] on it, records an event, and replaces batch.images/labels with the
//                  device tensors. Nothing blocks the worker: the copy overlaps decoding of the
//                  next batches and the training step.
//   finish(batch)  consumer thread, in DataLoader::next(). Makes the consumer's current stream
//                  of the device (the compute stream, or the one a StreamGuard installed) wait
//                  on that event (cudaStreamWaitEvent: no host wait), and records that stream on
//                  the two device blocks, so the caching allocator does not hand them to the
//                  next batch's copy while kernels queued on the compute stream still read them.
//
// Host buffers: images from PinnedHostBufferAllocator are page-locked; labels are assembled in
// ordinary memory and staged through a small pinned buffer. A pinned source is released right
// after the copy is queued (pinned_record_stream keeps its block out of reuse until the copy
// has run); a pageable source (e.g. the default allocator) is held in Batch::transfer_state
// until finish(), and the copy from it is not asynchronous.
//
// A batch dropped without finish() (the loader stopped early) is safe: its device memory goes
// back to the copy stream's pool, its pinned memory is reused only after its copy has finished.
//
// Threads and devices: start() and the pinned host buffers switch to the loader's device with a
// DeviceGuard. On a worker thread that is a switch for good: the thread starts on device 0, and
// in the process of a rank on another GPU device 0 has no context, which DeviceGuard does not
// create just to restore it (since CUDA 12 cudaSetDevice initialises the primary context, hundreds
// of MiB on GPU 0 per rank). With num_workers == 0, start() runs on the consumer thread, whose
// device is restored. finish() runs on the consumer thread and restores its device too.
//
// Only in builds with FF_WITH_CUDA; make_batch_transfer() (transfer_factory.h) picks it.
#pragma once

#ifdef FF_WITH_CUDA

#include <cuda_runtime.h>

#include "data/loader/batch.h"

namespace ff::data {

class CudaAsyncTransfer final : public BatchTransfer {
 public:
  // `device` must be an existing CUDA device (throws ff::Error with the driver's reason otherwise).
  explicit CudaAsyncTransfer(Device device);

  // batch.images: contiguous CPU [B, 3, H, W] float32/float16; batch.labels: contiguous CPU [B] int64.
  void start(Batch& batch) override;
  void finish(Batch& batch) override;

  Device device() const { return device_; }

 private:
  Device device_;
};

// The side stream that carries every CudaAsyncTransfer copy to `device` (created on first use,
// never destroyed: the caching allocator keys cached blocks by stream handle).
cudaStream_t batch_copy_stream(int device);

}  // namespace ff::data

#endif  // FF_WITH_CUDA
