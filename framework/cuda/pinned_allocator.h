// Page-locked ("pinned") host memory for the data loader's batch buffers.
//
// Host-to-device copies from pinned memory run asynchronously on a stream (from pageable memory
// the driver stages them through its own pinned buffer and blocks the host). cudaHostAlloc is
// slow, so freed blocks are cached by rounded size (<= 1 MiB: next power of two, at least
// 4 KiB; larger: a multiple of 2 MiB) and handed out again, but only after every stream the
// block was recorded on (pinned_record_stream, copy_pinned_to_device_async) has finished the
// work queued before the free.
//
// Without a CUDA device (or when pinning fails) the allocator falls back to ordinary 64-byte
// aligned host memory, so callers need no special case; is_pinned() tells them which they got.
//
//   ff::DataPtr buf = ff::cuda::pinned_allocate(batch_bytes);   // fill it on a worker thread
//   ff::cuda::copy_pinned_to_device_async(images.raw_data(), buf.get(), batch_bytes, 0);
//   buf.reset();   // safe: the block is reused only after the copy has finished
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "framework/core/device.h"

namespace ff::cuda {

DataPtr pinned_allocate(size_t nbytes);
bool is_pinned(const void* ptr);  // ptr: anywhere inside a live block from pinned_allocate

// Work queued on `stream` (of the current device) so far reads or writes the block holding ptr.
void pinned_record_stream(const void* ptr, cudaStream_t stream);
// `stream` is being destroyed after its work finished (ff::cuda::Stream's destructor calls this).
void pinned_retire_stream(cudaStream_t stream);

// dst (device memory on `device`) <- pinned_src, nbytes, queued on current_stream(device) without
// blocking the host; records that stream on the pinned block. A pageable src (the fallback) is
// copied synchronously instead.
void copy_pinned_to_device_async(void* dst, const void* pinned_src, size_t nbytes, int device);

struct PinnedStats {
  int64_t allocated_bytes = 0;  // handed out (rounded sizes)
  int64_t reserved_bytes = 0;   // obtained from cudaHostAlloc and not released
  int64_t peak_allocated_bytes = 0;
  int64_t num_host_allocs = 0;  // cudaHostAlloc calls
  int64_t num_fallbacks = 0;    // pageable allocations made because pinning was impossible
};
PinnedStats pinned_stats();
void pinned_empty_cache();  // releases cached blocks whose streams have finished with them

// The same memory as an ff::Allocator (the device index is ignored).
Allocator& pinned_allocator();

}  // namespace ff::cuda
