// The CUDA caching allocator: device memory for tensors, workspaces and kernel scratch.
//
// cudaMalloc/cudaFree are slow and cudaFree synchronises the device, so freed memory is kept
// in per-device pools and handed out again. Scheme (docs/cuda.md has the full story):
//   * small requests (<= 1 MiB) are rounded up to 512 B and carved from 2 MiB segments;
//   * large requests are rounded up to 2 MiB; a new segment for a request under 10 MiB is
//     20 MiB (the rest is split off and cached), bigger requests get a segment of their size;
//   * a block belongs to the stream that allocated it. Freed, it is reusable on that stream at
//     once (stream order makes this safe); another stream may take it only once its whole
//     segment is free and an event recorded on the owning stream has completed;
//   * a block also used on other streams (record_stream) returns to its pool only after events
//     recorded on those streams at free time have completed;
//   * adjacent free blocks of a segment merge; on cudaMalloc failure every fully free segment
//     is released (after a device synchronise) and the allocation retried once.
// FF_CUDA_CACHING_ALLOCATOR=0 turns caching off: every allocation is a cudaMalloc and every
// free a cudaFree (slow, synchronising; for memory checkers and debugging).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "framework/core/device.h"
#include "framework/core/tensor.h"

namespace ff::cuda {

struct AllocatorStats {
  int64_t allocated_bytes = 0;       // block bytes handed out and not yet freed (rounded sizes)
  int64_t requested_bytes = 0;       // bytes the callers asked for, of those blocks
  int64_t reserved_bytes = 0;        // bytes obtained from cudaMalloc and not yet released
  int64_t peak_allocated_bytes = 0;  // since start or the last reset_peak_stats
  int64_t peak_reserved_bytes = 0;
  int64_t num_allocs = 0;            // calls to allocate with nbytes > 0
  int64_t num_frees = 0;
  int64_t num_cuda_mallocs = 0;      // segments obtained from the driver
  int64_t num_cuda_frees = 0;
  int64_t num_ooms = 0;              // cudaMalloc failures (retried after releasing the cache)
  int64_t active_blocks = 0;         // blocks handed out
  int64_t cached_blocks = 0;         // free blocks held in the pools
};

constexpr size_t kSmallRequest = size_t{1} << 20;  // <= this: small pool
constexpr size_t kSmallRound = 512;
constexpr size_t kSmallSegment = size_t{2} << 20;
constexpr size_t kLargeRound = size_t{2} << 20;
constexpr size_t kMidRequest = size_t{10} << 20;   // large requests below this share 20 MiB segments
constexpr size_t kMidSegment = size_t{20} << 20;

// Device memory of `nbytes` on `device`, for use on `stream` (default: the current stream of
// that device). Throws ff::Error when the device does not exist or memory runs out. The
// returned pointer is freed by the DataPtr's deleter, which never throws.
DataPtr cuda_allocate(size_t nbytes, int device);
DataPtr cuda_allocate(size_t nbytes, int device, cudaStream_t stream);

// Marks that the block holding `ptr` (a pointer from cuda_allocate) is also used by work on
// `stream`: its memory is not reused until that work, queued before the free, has finished.
void record_stream(const void* ptr, cudaStream_t stream);
void record_stream(const Tensor& t, cudaStream_t stream);

// Called by Stream::~Stream after synchronising `stream` and before destroying it: the
// allocator forgets the handle (its blocks move to the compute stream of their device).
void retire_stream(cudaStream_t stream);

AllocatorStats allocator_stats(int device);
void reset_peak_stats(int device);  // peaks := current values
// Releases every fully free cached segment of every device (synchronises those devices).
void empty_cache();

// Caching on/off (initially from FF_CUDA_CACHING_ALLOCATOR; default on). Blocks allocated in
// one mode are freed correctly after a switch. Meant for tests and debugging.
bool caching_enabled();
void set_caching_enabled(bool on);

// The ff::Allocator the CUDA backend hands to Storage.
Allocator& device_allocator();

}  // namespace ff::cuda
