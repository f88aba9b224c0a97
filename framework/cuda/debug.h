// Debugging and test helpers for stream-ordered code.
#pragma once

#include <cuda_runtime.h>

namespace ff::cuda {

// Queues a kernel that keeps `stream` busy for about `milliseconds` of GPU time (it spins on
// the global timer). Tests use it to hold work in flight on one stream, e.g. to check that
// memory freed there is not handed to another stream too early.
void busy_wait_on_stream(cudaStream_t stream, double milliseconds);

}  // namespace ff::cuda
