#include "framework/cuda/cuda_runtime.h"
#include "framework/cuda/debug.h"

namespace ff::cuda {
namespace {

__device__ __forceinline__ unsigned long long global_timer_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void busy_wait_kernel(unsigned long long ns) {
  const unsigned long long start = global_timer_ns();
  while (global_timer_ns() - start < ns) __nanosleep(1000);
}

}  // namespace

void busy_wait_on_stream(cudaStream_t stream, double milliseconds) {
  const auto ns = static_cast<unsigned long long>(milliseconds > 0 ? milliseconds * 1e6 : 0);
  busy_wait_kernel<<<1, 1, 0, stream>>>(ns);
  FF_CUDA_CHECK_LAUNCH();
}

}  // namespace ff::cuda
