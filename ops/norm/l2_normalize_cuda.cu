// CUDA kernels of l2_normalize and l2_normalize_backward: y = x / max(||x||, eps) along a dim.
//
// A contiguous tensor is viewed as [outer, length, inner] around the dim.
//  * inner == 1 (rows: ArcFace embeddings [N, 512] and class weights [classes, 512]): one warp
//    per row, 8 rows per block; each lane strides the row, a warp reduction (lane 0's result,
//    broadcast) gives the sum, so every element of a row uses the same scale.
//  * inner > 1: one thread per (outer, inner) slice, coalesced across threads.
// Squares and dot products accumulate in the compute type (float, double for fp64); the scale
// factors are formed in double from those sums, as the CPU reference does.
#include "ops/common/dim_layout.h"
#include "framework/dispatch/registry.h"
#include "ops/common/nn_cuda_utils.cuh"
#include "ops/norm/l2_normalize.h"

namespace ff {
namespace {

using namespace cuda_nn;

constexpr int kWarpsPerBlock = 8;

template <typename A>
__device__ __forceinline__ A warp_sum_broadcast(A v) {
  v = warp_reduce(v, SumOp{});
  return __shfl_sync(0xffffffffu, v, 0);
}

// 1 / max(sqrt(squares), eps), in double.
__device__ __forceinline__ double inv_denominator(double squares, double eps) { return 1.0 / fmax(sqrt(squares), eps); }

// grad_x = grad * grad_scale - x * x_scale (see l2_normalize.cpp for the two cases).
__device__ __forceinline__ void backward_scales(double squares, double dot, double eps, double* grad_scale,
                                                double* x_scale) {
  const double norm = sqrt(squares);
  if (norm >= eps && norm > 0.0) {
    *grad_scale = 1.0 / norm;
    *x_scale = dot / (norm * norm * norm);
  } else {
    *grad_scale = 1.0 / eps;
    *x_scale = 0.0;
  }
}

template <typename T>
__global__ void l2n_rows_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t rows, int64_t length,
                                double eps) {
  using A = acc_t_of<T>;
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t r = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + (threadIdx.x >> 5); r < rows;
       r += warps_total) {
    const T* row = x + r * length;
    A sq = 0;
    for (int64_t j = lane; j < length; j += 32) {
      const A v = to_acc(row[j]);
      sq += v * v;
    }
    sq = warp_sum_broadcast(sq);
    const A inv = static_cast<A>(inv_denominator(static_cast<double>(sq), eps));
    T* orow = out + r * length;
    for (int64_t j = lane; j < length; j += 32) orow[j] = from_acc<T>(to_acc(row[j]) * inv);
  }
}

template <typename T>
__global__ void l2n_columns_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t outer, int64_t length,
                                   int64_t inner, double eps) {
  using A = acc_t_of<T>;
  const int64_t columns = outer * inner;
  for (int64_t col = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; col < columns;
       col += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = (col / inner) * length * inner + col % inner;
    A sq = 0;
    for (int64_t k = 0; k < length; ++k) {
      const A v = to_acc(x[base + k * inner]);
      sq += v * v;
    }
    const A inv = static_cast<A>(inv_denominator(static_cast<double>(sq), eps));
    for (int64_t k = 0; k < length; ++k) out[base + k * inner] = from_acc<T>(to_acc(x[base + k * inner]) * inv);
  }
}

template <typename T>
__global__ void l2n_backward_rows_kernel(const T* __restrict__ x, const T* __restrict__ g, T* __restrict__ gx,
                                         int64_t rows, int64_t length, double eps) {
  using A = acc_t_of<T>;
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t r = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + (threadIdx.x >> 5); r < rows;
       r += warps_total) {
    const int64_t base = r * length;
    A sq = 0, dot = 0;
    for (int64_t j = lane; j < length; j += 32) {
      const A v = to_acc(x[base + j]);
      sq += v * v;
      dot += v * to_acc(g[base + j]);
    }
    sq = warp_sum_broadcast(sq);
    dot = warp_sum_broadcast(dot);
    double gs, xs;
    backward_scales(static_cast<double>(sq), static_cast<double>(dot), eps, &gs, &xs);
    const A grad_scale = static_cast<A>(gs), x_scale = static_cast<A>(xs);
    for (int64_t j = lane; j < length; j += 32) {
      gx[base + j] = from_acc<T>(to_acc(g[base + j]) * grad_scale - to_acc(x[base + j]) * x_scale);
    }
  }
}

template <typename T>
__global__ void l2n_backward_columns_kernel(const T* __restrict__ x, const T* __restrict__ g, T* __restrict__ gx,
                                            int64_t outer, int64_t length, int64_t inner, double eps) {
  using A = acc_t_of<T>;
  const int64_t columns = outer * inner;
  for (int64_t col = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; col < columns;
       col += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = (col / inner) * length * inner + col % inner;
    A sq = 0, dot = 0;
    for (int64_t k = 0; k < length; ++k) {
      const A v = to_acc(x[base + k * inner]);
      sq += v * v;
      dot += v * to_acc(g[base + k * inner]);
    }
    double gs, xs;
    backward_scales(static_cast<double>(sq), static_cast<double>(dot), eps, &gs, &xs);
    const A grad_scale = static_cast<A>(gs), x_scale = static_cast<A>(xs);
    for (int64_t k = 0; k < length; ++k) {
      const int64_t i = base + k * inner;
      gx[i] = from_acc<T>(to_acc(g[i]) * grad_scale - to_acc(x[i]) * x_scale);
    }
  }
}

unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>(std::clamp<int64_t>(cuda::ceil_div(rows, kWarpsPerBlock), 1, kMaxGrid));
}

void l2_normalize_cuda(const Tensor& out, const Tensor& x, int64_t dim, double eps) {
  if (x.numel() == 0) return;
  const DimLayout l = dim_layout(x, dim);
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(x.dtype(), "l2_normalize", [&] {
    if (l.inner == 1) {
      l2n_rows_kernel<scalar_t><<<row_blocks(l.outer), 32 * kWarpsPerBlock, 0, stream>>>(
          ptr<scalar_t>(x), ptr<scalar_t>(out), l.outer, l.length, eps);
    } else {
      l2n_columns_kernel<scalar_t><<<grid_for(l.outer * l.inner), kThreads, 0, stream>>>(
          ptr<scalar_t>(x), ptr<scalar_t>(out), l.outer, l.length, l.inner, eps);
    }
    FF_CUDA_CHECK_LAUNCH();
  });
}

void l2_normalize_backward_cuda(const Tensor& grad_x, const Tensor& grad_out, const Tensor& x, int64_t dim,
                                double eps) {
  if (x.numel() == 0) return;
  const DimLayout l = dim_layout(x, dim);
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(x.dtype(), "l2_normalize_backward", [&] {
    if (l.inner == 1) {
      l2n_backward_rows_kernel<scalar_t><<<row_blocks(l.outer), 32 * kWarpsPerBlock, 0, stream>>>(
          ptr<scalar_t>(x), ptr<scalar_t>(grad_out), ptr<scalar_t>(grad_x), l.outer, l.length, eps);
    } else {
      l2n_backward_columns_kernel<scalar_t><<<grid_for(l.outer * l.inner), kThreads, 0, stream>>>(
          ptr<scalar_t>(x), ptr<scalar_t>(grad_out), ptr<scalar_t>(grad_x), l.outer, l.length, l.inner, eps);
    }
    FF_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

FF_REGISTER_KERNEL(l2_normalize, CUDA, dispatch::kFloatingTypes, &l2_normalize_cuda);
FF_REGISTER_KERNEL(l2_normalize_backward, CUDA, dispatch::kFloatingTypes, &l2_normalize_backward_cuda);

}  // namespace ff
