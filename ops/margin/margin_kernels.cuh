// CUDA kernels and raw-pointer launchers of combined_margin. Header-only and free of framework
// types so that a stand-alone harness can check them against the CPU math (margin.cu wraps
// them for the dispatcher). Compute type: float for float, double for double.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/margin/margin_math.h"

namespace ff::margin_cuda {

constexpr int kThreads = 256;
constexpr int kMaxGridX = 1024;   // column blocks per row; the kernels stride past it
constexpr int kMaxGridY = 65535;  // rows per launch; the kernels stride past it

struct Layout {
  int64_t rows = 0, cols = 0;
  int64_t row_stride = 0, col_stride = 1;  // of the input (x or grad_out), in elements
};

// One thread per (row, column); the thread that owns the target column also writes the row's
// slope, and column 0 writes 0 for a -1 row.
template <typename T, typename I>
__global__ void margin_forward_kernel(const T* __restrict__ x, Layout l, const I* __restrict__ labels,
                                      T* __restrict__ out, T* __restrict__ row_slope, margin_math::Constants c) {
  const T s = static_cast<T>(c.scale);
  for (int64_t i = blockIdx.y; i < l.rows; i += gridDim.y) {
    const int64_t t = static_cast<int64_t>(labels[i]);
    const T* xr = x + i * l.row_stride;
    T* orow = out + i * l.cols;
    for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < l.cols;
         j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const T v = xr[j * l.col_stride];
      if (j == t) {
        T value, slope;
        margin_math::target_value(v, c, &value, &slope);
        orow[j] = s * value;
        row_slope[i] = s * slope;
      } else {
        orow[j] = margin_math::filtered(v, c) ? T(0) : s * margin_math::clamp_unit(v);
        if (t < 0 && j == 0) row_slope[i] = T(0);
      }
    }
  }
}

// x may be null (filter off); then it is never read.
template <typename T, typename I>
__global__ void margin_backward_kernel(const T* __restrict__ grad_out, Layout l, const T* __restrict__ x,
                                       int64_t x_row_stride, int64_t x_col_stride, const I* __restrict__ labels,
                                       const T* __restrict__ row_slope, T* __restrict__ grad_x,
                                       margin_math::Constants c) {
  const T s = static_cast<T>(c.scale);
  for (int64_t i = blockIdx.y; i < l.rows; i += gridDim.y) {
    const int64_t t = static_cast<int64_t>(labels[i]);
    const T* gr = grad_out + i * l.row_stride;
    T* orow = grad_x + i * l.cols;
    for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < l.cols;
         j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const T g = gr[j * l.col_stride];
      if (j == t) {
        orow[j] = row_slope[i] * g;
      } else {
        const bool drop = x != nullptr && margin_math::filtered(x[i * x_row_stride + j * x_col_stride], c);
        orow[j] = drop ? T(0) : s * g;
      }
    }
  }
}

inline dim3 margin_grid(const Layout& l) {
  const int64_t col_blocks = (l.cols + kThreads - 1) / kThreads;
  const unsigned gx = static_cast<unsigned>(col_blocks < 1 ? 1 : (col_blocks > kMaxGridX ? kMaxGridX : col_blocks));
  const unsigned gy = static_cast<unsigned>(l.rows < 1 ? 1 : (l.rows > kMaxGridY ? kMaxGridY : l.rows));
  return dim3(gx, gy, 1);
}

// Launchers: return the launch status (cudaGetLastError), never synchronise.
template <typename T, typename I>
cudaError_t launch_margin_forward(const T* x, const Layout& l, const I* labels, T* out, T* row_slope,
                                  const margin_math::Constants& c, cudaStream_t stream) {
  if (l.rows == 0 || l.cols == 0) return cudaSuccess;
  margin_forward_kernel<T, I><<<margin_grid(l), kThreads, 0, stream>>>(x, l, labels, out, row_slope, c);
  return cudaGetLastError();
}

template <typename T, typename I>
cudaError_t launch_margin_backward(const T* grad_out, const Layout& l, const T* x, int64_t x_row_stride,
                                   int64_t x_col_stride, const I* labels, const T* row_slope, T* grad_x,
                                   const margin_math::Constants& c, cudaStream_t stream) {
  if (l.rows == 0 || l.cols == 0) return cudaSuccess;
  margin_backward_kernel<T, I><<<margin_grid(l), kThreads, 0, stream>>>(grad_out, l, x, x_row_stride, x_col_stride,
                                                                        labels, row_slope, grad_x, c);
  return cudaGetLastError();
}

}  // namespace ff::margin_cuda
