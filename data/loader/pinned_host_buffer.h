// PinnedHostBufferAllocator: batches assembled in page-locked ("pinned") host memory, so that
// the host-to-device copy of a finished batch can run asynchronously (arcface_torch's
// pin_memory=True). The tensors it returns are ordinary CPU tensors (Device() = cpu) whose
// storage comes from ff::cuda::pinned_allocator() (framework/cuda/pinned_allocator.h), which
// caches freed blocks, so steady-state training does no cudaHostAlloc at all.
//
// Fallback: in a build without CUDA, or when no CUDA device is usable, every buffer is
// ordinary pageable memory from the CPU backend; pinned() is false and name() says why. Batches
// are byte-identical either way: only where the bytes live differs.
#pragma once

#include <string>

#include "data/loader/batch.h"

namespace ff::data {

class PinnedHostBufferAllocator final : public HostBufferAllocator {
 public:
  // Decides once, here, whether to pin: needs a CUDA build and a usable device. With
  // `device` >= 0 (the training device; make_host_buffer_allocator passes it), allocate() binds
  // the calling loader thread to that device before it may call cudaHostAlloc, which would
  // otherwise create a CUDA context on the thread's default device 0 (see cuda_transfer.h,
  // "Threads and devices"); with -1 it uses whatever device the calling thread has.
  PinnedHostBufferAllocator() : PinnedHostBufferAllocator(-1) {}
  explicit PinnedHostBufferAllocator(int device);

  // A contiguous CPU tensor [shape] of `dtype`; thread-safe (called by loader workers).
  Tensor allocate(const Shape& shape, DType dtype) override;
  // "pinned host memory (cudaHostAlloc, cached)" or "pageable host memory (<why not pinned>)".
  const char* name() const override { return name_.c_str(); }

  bool pinned() const { return pinned_; }
  // Why buffers are pageable ("built without CUDA", the driver's reason); empty when pinned().
  const std::string& fallback_reason() const { return fallback_reason_; }

 private:
  bool pinned_ = false;
  int device_ = -1;
  std::string fallback_reason_;
  std::string name_;
};

// True when `t`'s storage is page-locked memory from the pinned allocator (false in builds
// without CUDA). Lets tests and the trainer check what a HostBufferAllocator produced.
bool is_pinned_tensor(const Tensor& t);

}  // namespace ff::data
