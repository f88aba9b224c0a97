// CUDA kernel and raw-pointer launcher of sparse_rows_sgd_update_ (header-only, no framework
// types, so a stand-alone harness can check it against the CPU math).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/partial_fc/sparse_rows_sgd_math.h"

namespace ff::sparse_sgd_cuda {

constexpr int kThreads = 256;

// One thread per element of the [count, width] gradient block; rows are unique, so no two
// threads touch the same parameter element.
template <typename P, typename A>
__global__ void sparse_rows_sgd_kernel(P* __restrict__ param, A* __restrict__ buffer, const int64_t* __restrict__ rows,
                                       const P* __restrict__ grads, int64_t count, int64_t width,
                                       sparse_sgd_math::Hyper<A> h) {
  const int64_t total = count * width;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = e / width, j = e % width;
    const int64_t at = rows[k] * width + j;
    A scratch = A(0);
    A* buf = h.use_momentum ? buffer + at : &scratch;
    param[at] = static_cast<P>(sparse_sgd_math::update_element(static_cast<A>(param[at]), static_cast<A>(grads[e]), buf, h));
  }
}

template <typename P, typename A>
cudaError_t launch_sparse_rows_sgd(P* param, A* buffer, const int64_t* rows, const P* grads, int64_t count,
                                   int64_t width, const sparse_sgd_math::Hyper<A>& h, cudaStream_t stream) {
  const int64_t total = count * width;
  if (total == 0) return cudaSuccess;
  int64_t blocks = (total + kThreads - 1) / kThreads;
  if (blocks > 65535 * 8) blocks = 65535 * 8;  // grid-stride past it
  sparse_rows_sgd_kernel<P, A><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(param, buffer, rows, grads,
                                                                                      count, width, h);
  return cudaGetLastError();
}

}  // namespace ff::sparse_sgd_cuda
