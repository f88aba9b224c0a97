// CUDA kernels of relu, prelu and dropout (forward and backward).
//
//  * relu / relu_backward: elementwise over any strides (a strided indexer per operand, with a
//    contiguous fast path). NaN propagates forward; a NaN output passes the gradient.
//  * prelu: elementwise; prelu_backward reduces grad_weight per channel with (channel, chunk)
//    blocks whose partial sums (double) are added in chunk order: reproducible, no atomics.
//  * dropout: the same Philox4x32-10 stream as the CPU kernel (element i uses word i % 4 of
//    philox(seed, counter + i / 4, 0)) and the same integer keep test (word >> 8) >= ceil(p 2^24),
//    with the scale 1 / (1 - p) rounded once to the compute type on the host: masks and values
//    are bit-identical to the CPU's.
#include "ops/tensor_ops/philox.h"
#include <cmath>

#include "framework/dispatch/registry.h"
#include "ops/activation/activation.h"
#include "ops/common/nn_cuda_utils.cuh"

namespace ff {
namespace {

using namespace cuda_nn;

// ---- relu -------------------------------------------------------------------------------------------------
template <typename T, bool kContiguous>
__global__ void relu_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t n, StridedIndexer xi,
                            StridedIndexer oi) {
  using A = acc_t_of<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const T v = x[kContiguous ? i : xi.offset(i)];
    const A a = to_acc(v);
    out[kContiguous ? i : oi.offset(i)] = (a > A(0) || a != a) ? v : from_acc<T>(A(0));
  }
}

// grad_x = y <= 0 ? 0 : grad_out.
template <typename T, bool kContiguous>
__global__ void relu_backward_kernel(const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ gx, int64_t n,
                                     StridedIndexer gi, StridedIndexer yi, StridedIndexer gxi) {
  using A = acc_t_of<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const A yv = to_acc(y[kContiguous ? i : yi.offset(i)]);
    gx[kContiguous ? i : gxi.offset(i)] = yv <= A(0) ? from_acc<T>(A(0)) : g[kContiguous ? i : gi.offset(i)];
  }
}

void relu_cuda(const Tensor& out, const Tensor& x) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const bool contiguous = x.is_contiguous() && out.is_contiguous();
  const StridedIndexer xi = contiguous ? StridedIndexer{} : make_indexer(x);
  const StridedIndexer oi = contiguous ? StridedIndexer{} : make_indexer(out);
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(x.dtype(), "relu", [&] {
    if (contiguous) {
      relu_kernel<scalar_t, true><<<grid_for(n), kThreads, 0, stream>>>(ptr<scalar_t>(x), ptr<scalar_t>(out), n, xi, oi);
    } else {
      relu_kernel<scalar_t, false><<<grid_for(n), kThreads, 0, stream>>>(ptr<scalar_t>(x), ptr<scalar_t>(out), n, xi,
                                                                         oi);
    }
    FF_CUDA_CHECK_LAUNCH();
  });
}

void relu_backward_cuda(const Tensor& grad_x, const Tensor& grad_out, const Tensor& out) {
  const int64_t n = grad_x.numel();
  if (n == 0) return;
  const bool contiguous = grad_x.is_contiguous() && grad_out.is_contiguous() && out.is_contiguous();
  const StridedIndexer gi = contiguous ? StridedIndexer{} : make_indexer(grad_out);
  const StridedIndexer yi = contiguous ? StridedIndexer{} : make_indexer(out);
  const StridedIndexer gxi = contiguous ? StridedIndexer{} : make_indexer(grad_x);
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(out.dtype(), "relu_backward", [&] {
    if (contiguous) {
      relu_backward_kernel<scalar_t, true><<<grid_for(n), kThreads, 0, stream>>>(
          ptr<scalar_t>(grad_out), ptr<scalar_t>(out), ptr<scalar_t>(grad_x), n, gi, yi, gxi);
    } else {
      relu_backward_kernel<scalar_t, false><<<grid_for(n), kThreads, 0, stream>>>(
          ptr<scalar_t>(grad_out), ptr<scalar_t>(out), ptr<scalar_t>(grad_x), n, gi, yi, gxi);
    }
    FF_CUDA_CHECK_LAUNCH();
  });
}

// ---- prelu ------------------------------------------------------------------------------------------------
// x viewed as [batch, channels, spatial]; a shared weight is one channel spanning the tensor.
struct PreluLayout {
  int64_t batch = 1, channels = 1, spatial = 1;
};

PreluLayout prelu_layout(const Tensor& x, const Tensor& weight) {
  PreluLayout l;
  if (weight.numel() == 1) {
    l.spatial = x.numel();
    return l;
  }
  l.batch = x.size(0);
  l.channels = x.size(1);
  for (int64_t d = 2; d < x.dim(); ++d) l.spatial *= x.size(d);
  return l;
}

template <typename T>
__global__ void prelu_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ out, int64_t n,
                             int64_t spatial, int64_t channels) {
  using A = acc_t_of<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const A v = to_acc(x[i]);
    const A wv = to_acc(w[channels == 1 ? 0 : (i / spatial) % channels]);
    out[i] = from_acc<T>(v > A(0) ? v : wv * v);
  }
}

// grad_x only: grad_x = x > 0 ? g : w[c] * g.
template <typename T>
__global__ void prelu_grad_input_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ g,
                                        T* __restrict__ gx, int64_t n, int64_t spatial, int64_t channels) {
  using A = acc_t_of<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const A v = to_acc(x[i]), gv = to_acc(g[i]);
    const A wv = to_acc(w[channels == 1 ? 0 : (i / spatial) % channels]);
    gx[i] = from_acc<T>(v > A(0) ? gv : wv * gv);
  }
}

// Block (c, b): chunk b of channel c. Writes grad_x (when asked) and the chunk's partial of
// sum over x <= 0 of g * x.
template <typename T>
__global__ void prelu_backward_partial_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                              const T* __restrict__ g, T* __restrict__ gx, int64_t channels,
                                              int64_t spatial, int64_t count, int64_t chunk, int splits,
                                              double* __restrict__ partial) {
  using A = acc_t_of<T>;
  const int64_t c = blockIdx.x;
  const int b = static_cast<int>(blockIdx.y);
  const A wv = to_acc(w[c]);
  const int64_t begin = b * chunk, end = min(count, begin + chunk);
  double acc = 0.0;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    const int64_t n = j / spatial, s = j - n * spatial;
    const int64_t i = (n * channels + c) * spatial + s;
    const A v = to_acc(x[i]), gv = to_acc(g[i]);
    if (gx) gx[i] = from_acc<T>(v > A(0) ? gv : wv * gv);
    if (!(v > A(0))) acc += static_cast<double>(gv) * static_cast<double>(v);
  }
  acc = block_reduce(acc, SumOp{}, 0.0);
  if (threadIdx.x == 0) partial[c * splits + b] = acc;
}

template <typename T>
__global__ void prelu_backward_finalize_kernel(const double* __restrict__ partial, int64_t channels, int splits,
                                               T* __restrict__ gw) {
  using A = acc_t_of<T>;
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= channels) return;
  double total = 0.0;
  for (int b = 0; b < splits; ++b) total += partial[c * splits + b];
  gw[c] = from_acc<T>(static_cast<A>(total));
}

void prelu_cuda(const Tensor& out, const Tensor& x, const Tensor& weight) {
  const int64_t n = x.numel();
  if (n == 0) return;
  const PreluLayout l = prelu_layout(x, weight);
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(x.dtype(), "prelu", [&] {
    prelu_kernel<scalar_t><<<grid_for(n), kThreads, 0, stream>>>(ptr<scalar_t>(x), ptr<scalar_t>(weight),
                                                                 ptr<scalar_t>(out), n, l.spatial, l.channels);
    FF_CUDA_CHECK_LAUNCH();
  });
}

void prelu_backward_cuda(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_out, const Tensor& x,
                         const Tensor& weight) {
  const int64_t n = x.numel();
  const PreluLayout l = prelu_layout(x, weight);
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(x.dtype(), "prelu_backward", [&] {
    if (!grad_weight.defined()) {
      if (!grad_x.defined() || n == 0) return;
      prelu_grad_input_kernel<scalar_t><<<grid_for(n), kThreads, 0, stream>>>(
          ptr<scalar_t>(x), ptr<scalar_t>(weight), ptr<scalar_t>(grad_out), ptr<scalar_t>(grad_x), n, l.spatial,
          l.channels);
      FF_CUDA_CHECK_LAUNCH();
      return;
    }
    if (l.channels == 0) return;  // an empty weight has an empty gradient
    const int64_t count = l.batch * l.spatial;  // elements per channel
    const int64_t want = cuda::ceil_div(4 * sm_count(), l.channels);
    const int splits = static_cast<int>(std::clamp<int64_t>(std::min(want, std::max<int64_t>(1, count / 2048)), 1, 1024));
    FF_CHECK(l.channels <= INT32_MAX, "prelu_backward: {} channels are too many for the CUDA kernel", l.channels);
    const Tensor partial = scratch(l.channels * splits, DType::Float64, x.device());
    const int64_t chunk = std::max<int64_t>(1, cuda::ceil_div(count, splits));
    prelu_backward_partial_kernel<scalar_t>
        <<<dim3(static_cast<unsigned>(l.channels), static_cast<unsigned>(splits)), kThreads, 0, stream>>>(
            ptr<scalar_t>(x), ptr<scalar_t>(weight), ptr<scalar_t>(grad_out), ptr_or_null<scalar_t>(grad_x),
            l.channels, l.spatial, count, chunk, splits, ptr<double>(partial));
    FF_CUDA_CHECK_LAUNCH();
    prelu_backward_finalize_kernel<scalar_t><<<static_cast<unsigned>(cuda::ceil_div(l.channels, kThreads)), kThreads,
                                               0, stream>>>(ptr<double>(partial), l.channels, splits,
                                                            ptr<scalar_t>(grad_weight));
    FF_CUDA_CHECK_LAUNCH();
  });
}

// ---- dropout ----------------------------------------------------------------------------------------------
// Mask bits come from the shared Philox (ops/tensor_ops/philox.h), as on the CPU.

// One thread per Philox block of 4 consecutive elements.
template <typename T>
__global__ void dropout_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t n, uint64_t seed,
                               uint64_t counter, uint32_t threshold, acc_t_of<T> scale) {
  using A = acc_t_of<T>;
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < blocks;
       b += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const cuda::Philox4 r = cuda::philox4x32_10(seed, counter + static_cast<uint64_t>(b), 0);
    const uint32_t* words = r.w;
    const int64_t first = 4 * b;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int64_t i = first + k;
      if (i >= n) break;
      const bool keep = (words[k] >> 8) >= threshold;
      out[i] = keep ? from_acc<T>(to_acc(in[i]) * scale) : from_acc<T>(A(0));
    }
  }
}

void dropout_cuda(const Tensor& out, const Tensor& in, uint64_t seed, uint64_t counter, double p) {
  const int64_t n = in.numel();
  if (n == 0) return;
  // Exactly the CPU kernel's threshold and scale (activation.cpp).
  const uint32_t threshold = static_cast<uint32_t>(std::ceil(p * 16777216.0));
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(in.dtype(), "dropout", [&] {
    using A = acc_t_of<scalar_t>;
    const A scale = static_cast<A>(1.0 / (1.0 - p));
    dropout_kernel<scalar_t><<<grid_for((n + 3) / 4), kThreads, 0, stream>>>(ptr<scalar_t>(in), ptr<scalar_t>(out), n,
                                                                             seed, counter, threshold, scale);
    FF_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

FF_REGISTER_KERNEL(relu, CUDA, dispatch::kFloatingTypes, &relu_cuda);
FF_REGISTER_KERNEL(relu_backward, CUDA, dispatch::kFloatingTypes, &relu_backward_cuda);
FF_REGISTER_KERNEL(prelu, CUDA, dispatch::kFloatingTypes, &prelu_cuda);
FF_REGISTER_KERNEL(prelu_backward, CUDA, dispatch::kFloatingTypes, &prelu_backward_cuda);
FF_REGISTER_KERNEL(dropout, CUDA, dispatch::kFloatingTypes, &dropout_cuda);
FF_REGISTER_KERNEL(dropout_backward, CUDA, dispatch::kFloatingTypes, &dropout_cuda);

}  // namespace ff
