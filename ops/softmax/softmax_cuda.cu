// CUDA kernels of softmax, log_softmax (forward and backward) and the fused cross-entropy.
//
// A contiguous tensor is viewed as [outer, length, inner] around the softmax dim.
//  * inner == 1 (softmax over the last dim, the common case): one block per row; three passes
//    over the row (max, sum of exp(x - max), write) with deterministic block reductions.
//  * inner > 1: one thread per (outer, inner) column walking the dim; neighbouring threads read
//    neighbouring addresses, so the loads coalesce.
// Sums accumulate in the compute type (float for fp16/bf16/fp32, double for fp64); the CPU
// reference accumulates in double, so fp32 results agree to ~1e-6 relative.
// NaN semantics match the CPU: NaN never wins the max but poisons the sum, so a row with NaN,
// +inf, or only -inf comes out NaN.
//
// cross_entropy validates targets on the device; a target outside [0, C) that is not
// ignore_index is reported by the first (lowest) bad row, which costs one stream
// synchronisation per call (the error must be raised by the call, as on the CPU).
#include <cmath>
#include <limits>

#include "ops/common/dim_layout.h"
#include "framework/dispatch/registry.h"
#include "ops/common/nn_cuda_utils.cuh"
#include "ops/softmax/softmax.h"

namespace ff {
namespace {

using namespace cuda_nn;


// Threads per row block: a multiple of 32, no more than the row needs, at most 256.
int row_threads(int64_t length) {
  int t = 32;
  while (t < 256 && t < length) t *= 2;
  return t;
}

template <typename A>
__device__ __forceinline__ A neg_inf() {
  return -infinity<A>();
}

// ---- softmax / log_softmax ------------------------------------------------------------------------------------
template <typename T>
__global__ void softmax_rows_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t rows, int64_t length,
                                    bool log) {
  using A = acc_t_of<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = x + r * length;
    T* orow = out + r * length;
    A m = neg_inf<A>();
    for (int64_t j = threadIdx.x; j < length; j += blockDim.x) m = MaxOp{}(m, to_acc(row[j]));
    m = block_reduce(m, MaxOp{}, neg_inf<A>());
    A s = 0;
    for (int64_t j = threadIdx.x; j < length; j += blockDim.x) s += exp(to_acc(row[j]) - m);
    s = block_reduce(s, SumOp{}, A(0));
    const A post = log ? static_cast<A>(::log(s)) : A(1) / s;
    for (int64_t j = threadIdx.x; j < length; j += blockDim.x) {
      const A shifted = to_acc(row[j]) - m;
      orow[j] = from_acc<T>(log ? shifted - post : exp(shifted) * post);
    }
  }
}

template <typename T>
__global__ void softmax_columns_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t outer, int64_t length,
                                       int64_t inner, bool log) {
  using A = acc_t_of<T>;
  const int64_t columns = outer * inner;
  for (int64_t col = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; col < columns;
       col += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = (col / inner) * length * inner + col % inner;
    A m = neg_inf<A>();
    for (int64_t k = 0; k < length; ++k) m = MaxOp{}(m, to_acc(x[base + k * inner]));
    A s = 0;
    for (int64_t k = 0; k < length; ++k) s += exp(to_acc(x[base + k * inner]) - m);
    const A post = log ? static_cast<A>(::log(s)) : A(1) / s;
    for (int64_t k = 0; k < length; ++k) {
      const A shifted = to_acc(x[base + k * inner]) - m;
      out[base + k * inner] = from_acc<T>(log ? shifted - post : exp(shifted) * post);
    }
  }
}

// softmax: gx = y * (g - sum(g * y)); log_softmax: gx = g - exp(y) * sum(g).
template <typename T>
__global__ void softmax_backward_rows_kernel(const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ gx,
                                             int64_t rows, int64_t length, bool log) {
  using A = acc_t_of<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t base = r * length;
    A s = 0;
    for (int64_t j = threadIdx.x; j < length; j += blockDim.x) {
      const A gv = to_acc(g[base + j]);
      s += log ? gv : gv * to_acc(y[base + j]);
    }
    s = block_reduce(s, SumOp{}, A(0));
    for (int64_t j = threadIdx.x; j < length; j += blockDim.x) {
      const A gv = to_acc(g[base + j]), yv = to_acc(y[base + j]);
      gx[base + j] = from_acc<T>(log ? gv - exp(yv) * s : yv * (gv - s));
    }
  }
}

template <typename T>
__global__ void softmax_backward_columns_kernel(const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ gx,
                                                int64_t outer, int64_t length, int64_t inner, bool log) {
  using A = acc_t_of<T>;
  const int64_t columns = outer * inner;
  for (int64_t col = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; col < columns;
       col += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = (col / inner) * length * inner + col % inner;
    A s = 0;
    for (int64_t k = 0; k < length; ++k) {
      const A gv = to_acc(g[base + k * inner]);
      s += log ? gv : gv * to_acc(y[base + k * inner]);
    }
    for (int64_t k = 0; k < length; ++k) {
      const int64_t i = base + k * inner;
      const A gv = to_acc(g[i]), yv = to_acc(y[i]);
      gx[i] = from_acc<T>(log ? gv - exp(yv) * s : yv * (gv - s));
    }
  }
}

void softmax_cuda(const Tensor& out, const Tensor& x, int64_t dim, bool log) {
  const DimLayout l = dim_layout(x, dim);
  if (x.numel() == 0) return;
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(x.dtype(), log ? "log_softmax" : "softmax", [&] {
    if (l.inner == 1) {
      const int64_t rows = l.outer;
      softmax_rows_kernel<scalar_t><<<static_cast<unsigned>(std::min(rows, kMaxGrid)), row_threads(l.length), 0,
                                      stream>>>(ptr<scalar_t>(x), ptr<scalar_t>(out), rows, l.length, log);
    } else {
      softmax_columns_kernel<scalar_t><<<grid_for(l.outer * l.inner), kThreads, 0, stream>>>(
          ptr<scalar_t>(x), ptr<scalar_t>(out), l.outer, l.length, l.inner, log);
    }
    FF_CUDA_CHECK_LAUNCH();
  });
}

void softmax_backward_cuda(const Tensor& grad_x, const Tensor& grad_out, const Tensor& out, int64_t dim, bool log) {
  const DimLayout l = dim_layout(out, dim);
  if (out.numel() == 0) return;
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(out.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&] {
    if (l.inner == 1) {
      const int64_t rows = l.outer;
      softmax_backward_rows_kernel<scalar_t><<<static_cast<unsigned>(std::min(rows, kMaxGrid)),
                                               row_threads(l.length), 0, stream>>>(
          ptr<scalar_t>(grad_out), ptr<scalar_t>(out), ptr<scalar_t>(grad_x), rows, l.length, log);
    } else {
      softmax_backward_columns_kernel<scalar_t><<<grid_for(l.outer * l.inner), kThreads, 0, stream>>>(
          ptr<scalar_t>(grad_out), ptr<scalar_t>(out), ptr<scalar_t>(grad_x), l.outer, l.length, l.inner, log);
    }
    FF_CUDA_CHECK_LAUNCH();
  });
}

// ---- cross-entropy -------------------------------------------------------------------------------------------
// Per row: lse = log-sum-exp (row_lse, stat type), loss = lse - x[target] (0 when ignored),
// written to `losses` (compute type). Bad targets lower *bad_row to their row and count as ignored.
template <typename T, typename I, typename S>
__global__ void cross_entropy_rows_kernel(const T* __restrict__ x, const I* __restrict__ target, int64_t rows,
                                          int64_t classes, int64_t ignore_index, S* __restrict__ row_lse,
                                          acc_t_of<T>* __restrict__ losses, unsigned long long* __restrict__ bad_row) {
  using A = acc_t_of<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = x + r * classes;
    A m = neg_inf<A>();
    for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) m = MaxOp{}(m, to_acc(row[j]));
    m = block_reduce(m, MaxOp{}, neg_inf<A>());
    A s = 0;
    for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) s += exp(to_acc(row[j]) - m);
    s = block_reduce(s, SumOp{}, A(0));
    if (threadIdx.x == 0) {
      const A lse = m + static_cast<A>(::log(s));
      row_lse[r] = static_cast<S>(lse);
      const int64_t t = static_cast<int64_t>(target[r]);
      A loss = 0;
      if (t != ignore_index) {
        if (t >= 0 && t < classes) {
          loss = lse - to_acc(row[t]);
        } else {
          atomicMin(bad_row, static_cast<unsigned long long>(r));
        }
      }
      losses[r] = loss;
    }
  }
}

// Mean / Sum over the non-ignored rows, in double and in row order (one block).
template <typename T, typename I>
__global__ void cross_entropy_reduce_kernel(const acc_t_of<T>* __restrict__ losses, const I* __restrict__ target,
                                            int64_t rows, int64_t ignore_index, bool mean, T* __restrict__ out) {
  using A = acc_t_of<T>;
  double total = 0.0, counted = 0.0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    if (static_cast<int64_t>(target[r]) == ignore_index) continue;
    total += static_cast<double>(losses[r]);
    counted += 1.0;
  }
  total = block_reduce(total, SumOp{}, 0.0);
  counted = block_reduce(counted, SumOp{}, 0.0);
  if (threadIdx.x == 0) out[0] = from_acc<T>(static_cast<A>(mean ? total / counted : total));  // 0/0 -> NaN
}

template <typename T>
__global__ void cross_entropy_none_kernel(const acc_t_of<T>* __restrict__ losses, int64_t rows, T* __restrict__ out) {
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[r] = from_acc<T>(losses[r]);
  }
}

// The upstream scale shared by every row for Mean / Sum: g[0] (/ number of non-ignored rows).
template <typename T, typename I>
__global__ void cross_entropy_shared_scale_kernel(const T* __restrict__ g, const I* __restrict__ target, int64_t rows,
                                                  int64_t ignore_index, bool mean, acc_t_of<T>* __restrict__ scale) {
  using A = acc_t_of<T>;
  double counted = 0.0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) counted += static_cast<int64_t>(target[r]) != ignore_index;
  counted = block_reduce(counted, SumOp{}, 0.0);
  if (threadIdx.x == 0) {
    double s = static_cast<double>(to_acc(g[0]));
    if (mean) s /= counted;
    scale[0] = static_cast<A>(s);
  }
}

// grad[i, j] = scale_i * (softmax_ij - [j == t_i]); zero rows for ignored targets.
template <typename T, typename I, typename S>
__global__ void cross_entropy_backward_kernel(const T* __restrict__ x, const I* __restrict__ target,
                                              const S* __restrict__ row_lse, const T* __restrict__ g,
                                              const acc_t_of<T>* __restrict__ shared_scale, int64_t rows,
                                              int64_t classes, int64_t ignore_index, T* __restrict__ gx) {
  using A = acc_t_of<T>;
  const int64_t total = rows * classes;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / classes, j = i - r * classes;
    const int64_t t = static_cast<int64_t>(target[r]);
    if (t == ignore_index || t < 0 || t >= classes) {
      gx[i] = from_acc<T>(A(0));
      continue;
    }
    const A scale = shared_scale ? shared_scale[0] : to_acc(g[r]);
    const A p = exp(to_acc(x[i]) - static_cast<A>(row_lse[r]));
    gx[i] = from_acc<T>(scale * (j == t ? p - A(1) : p));
  }
}

template <typename T, typename I>
void cross_entropy_typed(const Tensor& out, const Tensor& row_lse, const Tensor& logits, const Tensor& target,
                         Reduction reduction, int64_t ignore_index) {
  using A = acc_t_of<T>;
  using S = A;  // row_lse is float32 (float64 for float64 logits): the compute type
  const int64_t rows = logits.size(0), classes = logits.size(1);
  if (rows == 0) {
    if (reduction != Reduction::None) {  // empty Mean is 0/0 = NaN, empty Sum is 0
      const Tensor zero_losses = scratch(1, row_lse.dtype(), logits.device());
      cross_entropy_reduce_kernel<T, I><<<1, 32, 0, cuda::current_stream()>>>(
          ptr<A>(zero_losses), ptr<I>(target), 0, ignore_index, reduction == Reduction::Mean, ptr<T>(out));
      FF_CUDA_CHECK_LAUNCH();
    }
    return;
  }
  FF_CHECK(classes > 0, "cross_entropy: logits {} have no classes", logits.describe());
  cudaStream_t stream = cuda::current_stream();
  const Tensor losses = scratch(rows, row_lse.dtype(), logits.device());
  const Tensor bad = scratch(1, DType::Int64, logits.device());
  auto* bad_row = static_cast<unsigned long long*>(bad.raw_data());
  FF_CUDA_CHECK(cudaMemsetAsync(bad_row, 0xff, sizeof(unsigned long long), stream));  // "no bad row"
  cross_entropy_rows_kernel<T, I, S><<<static_cast<unsigned>(std::min(rows, kMaxGrid)), row_threads(classes), 0,
                                       stream>>>(ptr<T>(logits), ptr<I>(target), rows, classes, ignore_index,
                                                 ptr<S>(row_lse), ptr<A>(losses), bad_row);
  FF_CUDA_CHECK_LAUNCH();
  if (reduction == Reduction::None) {
    cross_entropy_none_kernel<T><<<grid_for(rows), kThreads, 0, stream>>>(ptr<A>(losses), rows, ptr<T>(out));
  } else {
    cross_entropy_reduce_kernel<T, I><<<1, 1024, 0, stream>>>(ptr<A>(losses), ptr<I>(target), rows, ignore_index,
                                                             reduction == Reduction::Mean, ptr<T>(out));
  }
  FF_CUDA_CHECK_LAUNCH();
  unsigned long long first_bad = 0;
  FF_CUDA_CHECK(cudaMemcpyAsync(&first_bad, bad_row, sizeof(first_bad), cudaMemcpyDeviceToHost, stream));
  FF_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (first_bad != ~0ull) {
    I value{};
    FF_CUDA_CHECK(cudaMemcpy(&value, ptr<I>(target) + first_bad, sizeof(I), cudaMemcpyDeviceToHost));
    FF_THROW("cross_entropy: target[{}] = {} is out of range for {} classes (expected 0 <= target < {}, or "
             "ignore_index {})",
             first_bad, static_cast<int64_t>(value), classes, classes, ignore_index);
  }
}

template <typename T, typename I>
void cross_entropy_backward_typed(const Tensor& grad_logits, const Tensor& grad_out, const Tensor& logits,
                                  const Tensor& target, const Tensor& row_lse, Reduction reduction,
                                  int64_t ignore_index) {
  using A = acc_t_of<T>;
  const int64_t rows = logits.size(0), classes = logits.size(1);
  if (rows * classes == 0) return;
  cudaStream_t stream = cuda::current_stream();
  Tensor shared;
  if (reduction != Reduction::None) {
    shared = scratch(1, row_lse.dtype(), logits.device());
    cross_entropy_shared_scale_kernel<T, I><<<1, 1024, 0, stream>>>(ptr<T>(grad_out), ptr<I>(target), rows,
                                                                   ignore_index, reduction == Reduction::Mean,
                                                                   ptr<A>(shared));
    FF_CUDA_CHECK_LAUNCH();
  }
  cross_entropy_backward_kernel<T, I, A><<<grid_for(rows * classes), kThreads, 0, stream>>>(
      ptr<T>(logits), ptr<I>(target), ptr<A>(row_lse), ptr<T>(grad_out), ptr_or_null<A>(shared), rows, classes,
      ignore_index, ptr<T>(grad_logits));
  FF_CUDA_CHECK_LAUNCH();
}

void cross_entropy_cuda(const Tensor& out, const Tensor& row_lse, const Tensor& logits, const Tensor& target,
                        Reduction reduction, int64_t ignore_index) {
  FF_CUDA_DISPATCH_FLOATING(logits.dtype(), "cross_entropy", [&] {
    using logit_t = scalar_t;
    if (target.dtype() == DType::Int64) {
      cross_entropy_typed<logit_t, int64_t>(out, row_lse, logits, target, reduction, ignore_index);
    } else {
      FF_CHECK(target.dtype() == DType::Int32, "cross_entropy: target must be int64 or int32, got {}",
               target.describe());
      cross_entropy_typed<logit_t, int32_t>(out, row_lse, logits, target, reduction, ignore_index);
    }
  });
}

void cross_entropy_backward_cuda(const Tensor& grad_logits, const Tensor& grad_out, const Tensor& logits,
                                 const Tensor& target, const Tensor& row_lse, Reduction reduction,
                                 int64_t ignore_index) {
  FF_CUDA_DISPATCH_FLOATING(logits.dtype(), "cross_entropy_backward", [&] {
    using logit_t = scalar_t;
    if (target.dtype() == DType::Int64) {
      cross_entropy_backward_typed<logit_t, int64_t>(grad_logits, grad_out, logits, target, row_lse, reduction,
                                                     ignore_index);
    } else {
      FF_CHECK(target.dtype() == DType::Int32, "cross_entropy_backward: target must be int64 or int32, got {}",
               target.describe());
      cross_entropy_backward_typed<logit_t, int32_t>(grad_logits, grad_out, logits, target, row_lse, reduction,
                                                     ignore_index);
    }
  });
}

}  // namespace

FF_REGISTER_KERNEL(softmax, CUDA, dispatch::kFloatingTypes, &softmax_cuda);
FF_REGISTER_KERNEL(log_softmax, CUDA, dispatch::kFloatingTypes, &softmax_cuda);
FF_REGISTER_KERNEL(softmax_backward, CUDA, dispatch::kFloatingTypes, &softmax_backward_cuda);
FF_REGISTER_KERNEL(log_softmax_backward, CUDA, dispatch::kFloatingTypes, &softmax_backward_cuda);
FF_REGISTER_KERNEL(cross_entropy, CUDA, dispatch::kFloatingTypes, &cross_entropy_cuda);
FF_REGISTER_KERNEL(cross_entropy_backward, CUDA, dispatch::kFloatingTypes, &cross_entropy_backward_cuda);

}  // namespace ff
