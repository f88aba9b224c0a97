// CUDA kernels of batch_norm and batch_norm_backward (own kernels rather than cuDNN's, so that
// every layout the op allows ([N, C], [N, C, L], [N, C, H, W]) and fp64 work, and the
// statistics follow the CPU reference exactly: biased variance for normalising, unbiased for
// running_var, float32 statistics and parameters for 16-bit inputs).
//
// x is viewed as [N, C, S]; channel c holds count = N * S values. Each pass over x is split
// into (channel, chunk) blocks so that even a few channels fill the GPU:
//   1. partial kernel: block (c, b) reduces its chunk of channel c to partial sums in the stat
//      type (shifted by the channel's first value, which keeps E[d^2] - E[d]^2 well conditioned);
//   2. finalize kernel: one thread per channel adds the chunk partials in chunk order, in double,
//      and derives mean / invstd / running-stat updates / per-channel coefficients;
//   3. an elementwise kernel normalises (or forms grad_x).
// No atomics anywhere: results are bitwise reproducible for a given shape.
#include <algorithm>

#include "framework/dispatch/registry.h"
#include "ops/common/nn_cuda_utils.cuh"
#include "ops/norm/batch_norm.h"

namespace ff {
namespace {

using namespace cuda_nn;

struct Layout {
  int64_t batch = 0, channels = 0, spatial = 1;
  int64_t count() const { return batch * spatial; }
};

Layout layout_of(const Tensor& x) {
  Layout l;
  l.batch = x.size(0);
  l.channels = x.size(1);
  for (int64_t d = 2; d < x.dim(); ++d) l.spatial *= x.size(d);
  return l;
}

// Chunks per channel: enough blocks for ~4 waves over the GPU, chunks of at least 2048 values.
int splits_for(const Layout& l) {
  const int64_t want = cuda::ceil_div(4 * sm_count(), std::max<int64_t>(l.channels, 1));
  const int64_t most = std::max<int64_t>(1, l.count() / 2048);
  return static_cast<int>(std::clamp<int64_t>(std::min(want, most), 1, 1024));
}

// ---- kernels ----------------------------------------------------------------------------------------------
// Partial sums of d = x - shift_c and d^2 over chunk blockIdx.y of channel blockIdx.x.
template <typename T, typename S, typename I>
__global__ void stats_partial_kernel(const T* __restrict__ x, I channels, I spatial, I count, I chunk, int splits,
                                     S* __restrict__ psum, S* __restrict__ psq) {
  const I c = static_cast<I>(blockIdx.x);
  const int b = static_cast<int>(blockIdx.y);
  const S shift = static_cast<S>(to_acc(x[c * spatial]));
  const I begin = static_cast<I>(b) * chunk;
  const I end = min(count, begin + chunk);
  S s1 = 0, s2 = 0;
  for (I j = begin + static_cast<I>(threadIdx.x); j < end; j += static_cast<I>(blockDim.x)) {
    const I n = j / spatial, s = j - n * spatial;
    const S d = static_cast<S>(to_acc(x[(n * channels + c) * spatial + s])) - shift;
    s1 += d;
    s2 += d * d;
  }
  s1 = block_reduce(s1, SumOp{}, S(0));
  s2 = block_reduce(s2, SumOp{}, S(0));
  if (threadIdx.x == 0) {
    psum[c * splits + b] = s1;
    psq[c * splits + b] = s2;
  }
}

template <typename T, typename S>
__global__ void finalize_train_kernel(const T* __restrict__ x, int64_t channels, int64_t spatial, int64_t count,
                                      int splits, const S* __restrict__ psum, const S* __restrict__ psq,
                                      const S* __restrict__ weight, S* __restrict__ running_mean,
                                      S* __restrict__ running_var, S* __restrict__ save_mean,
                                      S* __restrict__ save_invstd, S* __restrict__ scale, double momentum,
                                      double eps) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= channels) return;
  double s1 = 0.0, s2 = 0.0;
  for (int b = 0; b < splits; ++b) {
    s1 += static_cast<double>(psum[c * splits + b]);
    s2 += static_cast<double>(psq[c * splits + b]);
  }
  const double shift = static_cast<double>(static_cast<S>(to_acc(x[c * spatial])));
  const double n = static_cast<double>(count);
  const double mean_d = s1 / n;
  const double biased_var = fmax(s2 / n - mean_d * mean_d, 0.0);
  const double mean = shift + mean_d;
  const double invstd = 1.0 / sqrt(biased_var + eps);
  if (running_mean != nullptr) {
    const double unbiased_var = biased_var * n / (n - 1.0);
    running_mean[c] = static_cast<S>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
    running_var[c] = static_cast<S>((1.0 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased_var);
  }
  save_mean[c] = static_cast<S>(mean);
  save_invstd[c] = static_cast<S>(invstd);
  scale[c] = static_cast<S>((weight ? static_cast<double>(weight[c]) : 1.0) * invstd);
}

template <typename S>
__global__ void finalize_eval_kernel(int64_t channels, const S* __restrict__ running_mean,
                                     const S* __restrict__ running_var, const S* __restrict__ weight,
                                     S* __restrict__ save_mean, S* __restrict__ save_invstd, S* __restrict__ scale,
                                     double eps) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= channels) return;
  const double invstd = 1.0 / sqrt(static_cast<double>(running_var[c]) + eps);
  save_mean[c] = running_mean[c];
  save_invstd[c] = static_cast<S>(invstd);
  scale[c] = static_cast<S>((weight ? static_cast<double>(weight[c]) : 1.0) * invstd);
}

// out = (x - mean[c]) * scale[c] + bias[c], in the stat type.
template <typename T, typename S, typename I>
__global__ void normalize_kernel(const T* __restrict__ x, T* __restrict__ out, I total, I spatial, I channels,
                                 const S* __restrict__ mean, const S* __restrict__ scale, const S* __restrict__ bias) {
  for (I i = static_cast<I>(blockIdx.x * blockDim.x + threadIdx.x); i < total;
       i += static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x)) {
    const I c = (i / spatial) % channels;
    const S shift = bias ? bias[c] : S(0);
    out[i] = from_acc<T>((static_cast<S>(to_acc(x[i])) - mean[c]) * scale[c] + shift);
  }
}

// Partial sums of dy and dy * (x - mean_c) over chunk blockIdx.y of channel blockIdx.x.
template <typename T, typename S, typename I>
__global__ void backward_partial_kernel(const T* __restrict__ x, const T* __restrict__ g, I channels, I spatial,
                                        I count, I chunk, int splits, const S* __restrict__ mean,
                                        S* __restrict__ psum_dy, S* __restrict__ psum_dy_xmu) {
  const I c = static_cast<I>(blockIdx.x);
  const int b = static_cast<int>(blockIdx.y);
  const S m = mean[c];
  const I begin = static_cast<I>(b) * chunk;
  const I end = min(count, begin + chunk);
  S s1 = 0, s2 = 0;
  for (I j = begin + static_cast<I>(threadIdx.x); j < end; j += static_cast<I>(blockDim.x)) {
    const I n = j / spatial, s = j - n * spatial;
    const I idx = (n * channels + c) * spatial + s;
    const S dy = static_cast<S>(to_acc(g[idx]));
    s1 += dy;
    s2 += dy * (static_cast<S>(to_acc(x[idx])) - m);
  }
  s1 = block_reduce(s1, SumOp{}, S(0));
  s2 = block_reduce(s2, SumOp{}, S(0));
  if (threadIdx.x == 0) {
    psum_dy[c * splits + b] = s1;
    psum_dy_xmu[c * splits + b] = s2;
  }
}

// grad_weight = sum(dy * xhat), grad_bias = sum(dy), and the grad_x coefficients
// k = w * invstd, mean_dy, mean_dy_xhat (zero in eval, where the statistics are constants).
template <typename S>
__global__ void backward_finalize_kernel(int64_t channels, int splits, int64_t count, const S* __restrict__ psum_dy,
                                         const S* __restrict__ psum_dy_xmu, const S* __restrict__ weight,
                                         const S* __restrict__ invstd, bool training, bool have_sums,
                                         S* __restrict__ grad_weight, S* __restrict__ grad_bias, S* __restrict__ k,
                                         S* __restrict__ mean_dy, S* __restrict__ mean_dy_xhat) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= channels) return;
  double sum_dy = 0.0, sum_dy_xmu = 0.0;
  if (have_sums) {
    for (int b = 0; b < splits; ++b) {
      sum_dy += static_cast<double>(psum_dy[c * splits + b]);
      sum_dy_xmu += static_cast<double>(psum_dy_xmu[c * splits + b]);
    }
  }
  const double is = static_cast<double>(invstd[c]);
  const double sum_dy_xhat = sum_dy_xmu * is;
  if (grad_weight) grad_weight[c] = static_cast<S>(sum_dy_xhat);
  if (grad_bias) grad_bias[c] = static_cast<S>(sum_dy);
  const double inv_count = count > 0 ? 1.0 / static_cast<double>(count) : 0.0;
  k[c] = static_cast<S>((weight ? static_cast<double>(weight[c]) : 1.0) * is);
  mean_dy[c] = static_cast<S>(training ? sum_dy * inv_count : 0.0);
  mean_dy_xhat[c] = static_cast<S>(training ? sum_dy_xhat * inv_count : 0.0);
}

template <typename T, typename S, typename I>
__global__ void grad_input_kernel(const T* __restrict__ x, const T* __restrict__ g, T* __restrict__ gx, I total,
                                  I spatial, I channels, const S* __restrict__ mean, const S* __restrict__ invstd,
                                  const S* __restrict__ k, const S* __restrict__ mean_dy,
                                  const S* __restrict__ mean_dy_xhat) {
  for (I i = static_cast<I>(blockIdx.x * blockDim.x + threadIdx.x); i < total;
       i += static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x)) {
    const I c = (i / spatial) % channels;
    const S xhat = (static_cast<S>(to_acc(x[i])) - mean[c]) * invstd[c];
    gx[i] = from_acc<T>(k[c] * (static_cast<S>(to_acc(g[i])) - mean_dy[c] - xhat * mean_dy_xhat[c]));
  }
}

// ---- host side --------------------------------------------------------------------------------------------
template <typename T, typename I>
void batch_norm_typed(const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& x,
                      const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                      const Tensor& running_var, bool training, double momentum, double eps) {
  using S = acc_t_of<T>;
  const Layout l = layout_of(x);
  if (l.channels == 0) return;
  const DType stat = save_mean.dtype();
  cudaStream_t stream = cuda::current_stream();
  const int splits = training ? splits_for(l) : 0;
  // scratch: psum [C * splits], psq [C * splits], scale [C]
  const Tensor ws = scratch(l.channels * (2 * splits + 1), stat, x.device());
  S* psum = ptr<S>(ws);
  S* psq = psum + l.channels * splits;
  S* scale = psq + l.channels * splits;
  const unsigned channel_blocks = static_cast<unsigned>(cuda::ceil_div(l.channels, kThreads));
  if (training) {
    FF_CHECK(l.channels <= INT32_MAX, "batch_norm: {} channels are too many for the CUDA kernel", l.channels);
    const I chunk = static_cast<I>(cuda::ceil_div(l.count(), splits));
    stats_partial_kernel<T, S, I><<<dim3(static_cast<unsigned>(l.channels), static_cast<unsigned>(splits)), kThreads,
                                    0, stream>>>(ptr<T>(x), static_cast<I>(l.channels), static_cast<I>(l.spatial),
                                                 static_cast<I>(l.count()), chunk, splits, psum, psq);
    FF_CUDA_CHECK_LAUNCH();
    finalize_train_kernel<T, S><<<channel_blocks, kThreads, 0, stream>>>(
        ptr<T>(x), l.channels, l.spatial, l.count(), splits, psum, psq, ptr_or_null<S>(weight),
        ptr_or_null<S>(running_mean), ptr_or_null<S>(running_var), ptr<S>(save_mean), ptr<S>(save_invstd), scale,
        momentum, eps);
    FF_CUDA_CHECK_LAUNCH();
  } else {
    finalize_eval_kernel<S><<<channel_blocks, kThreads, 0, stream>>>(l.channels, ptr<S>(running_mean),
                                                                     ptr<S>(running_var), ptr_or_null<S>(weight),
                                                                     ptr<S>(save_mean), ptr<S>(save_invstd), scale, eps);
    FF_CUDA_CHECK_LAUNCH();
  }
  const int64_t total = x.numel();
  if (total == 0) return;
  normalize_kernel<T, S, I><<<grid_for(total), kThreads, 0, stream>>>(
      ptr<T>(x), ptr<T>(out), static_cast<I>(total), static_cast<I>(l.spatial), static_cast<I>(l.channels),
      ptr<S>(save_mean), scale, ptr_or_null<S>(bias));
  FF_CUDA_CHECK_LAUNCH();
}

template <typename T, typename I>
void batch_norm_backward_typed(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                               const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& save_mean,
                               const Tensor& save_invstd, bool training) {
  using S = acc_t_of<T>;
  const Layout l = layout_of(x);
  if (l.channels == 0) return;
  cudaStream_t stream = cuda::current_stream();
  const bool need_sums = grad_weight.defined() || grad_bias.defined() || (grad_x.defined() && training);
  const bool run_partials = need_sums && l.count() > 0;
  const int splits = run_partials ? splits_for(l) : 0;
  // scratch: psum_dy, psum_dy_xmu [C * splits]; k, mean_dy, mean_dy_xhat [C]
  const Tensor ws = scratch(l.channels * (2 * splits + 3), save_mean.dtype(), x.device());
  S* psum_dy = ptr<S>(ws);
  S* psum_dy_xmu = psum_dy + l.channels * splits;
  S* k = psum_dy_xmu + l.channels * splits;
  S* mean_dy = k + l.channels;
  S* mean_dy_xhat = mean_dy + l.channels;
  if (run_partials) {
    FF_CHECK(l.channels <= INT32_MAX, "batch_norm_backward: {} channels are too many for the CUDA kernel",
             l.channels);
    const I chunk = static_cast<I>(cuda::ceil_div(l.count(), splits));
    backward_partial_kernel<T, S, I><<<dim3(static_cast<unsigned>(l.channels), static_cast<unsigned>(splits)),
                                       kThreads, 0, stream>>>(
        ptr<T>(x), ptr<T>(grad_out), static_cast<I>(l.channels), static_cast<I>(l.spatial),
        static_cast<I>(l.count()), chunk, splits, ptr<S>(save_mean), psum_dy, psum_dy_xmu);
    FF_CUDA_CHECK_LAUNCH();
  }
  backward_finalize_kernel<S><<<static_cast<unsigned>(cuda::ceil_div(l.channels, kThreads)), kThreads, 0, stream>>>(
      l.channels, splits, l.count(), psum_dy, psum_dy_xmu, ptr_or_null<S>(weight), ptr<S>(save_invstd), training,
      run_partials, ptr_or_null<S>(grad_weight), ptr_or_null<S>(grad_bias), k, mean_dy, mean_dy_xhat);
  FF_CUDA_CHECK_LAUNCH();
  const int64_t total = x.numel();
  if (!grad_x.defined() || total == 0) return;
  grad_input_kernel<T, S, I><<<grid_for(total), kThreads, 0, stream>>>(
      ptr<T>(x), ptr<T>(grad_out), ptr<T>(grad_x), static_cast<I>(total), static_cast<I>(l.spatial),
      static_cast<I>(l.channels), ptr<S>(save_mean), ptr<S>(save_invstd), k, mean_dy, mean_dy_xhat);
  FF_CUDA_CHECK_LAUNCH();
}

void batch_norm_cuda(const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& x,
                     const Tensor& weight, const Tensor& bias, const Tensor& running_mean, const Tensor& running_var,
                     bool training, double momentum, double eps) {
  FF_CUDA_DISPATCH_FLOATING(x.dtype(), "batch_norm", [&] {
    if (fits_int32(x.numel())) {
      batch_norm_typed<scalar_t, int32_t>(out, save_mean, save_invstd, x, weight, bias, running_mean, running_var,
                                          training, momentum, eps);
    } else {
      batch_norm_typed<scalar_t, int64_t>(out, save_mean, save_invstd, x, weight, bias, running_mean, running_var,
                                          training, momentum, eps);
    }
  });
}

void batch_norm_backward_cuda(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                              const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& save_mean,
                              const Tensor& save_invstd, bool training) {
  FF_CUDA_DISPATCH_FLOATING(x.dtype(), "batch_norm_backward", [&] {
    if (fits_int32(x.numel())) {
      batch_norm_backward_typed<scalar_t, int32_t>(grad_x, grad_weight, grad_bias, grad_out, x, weight, save_mean,
                                                   save_invstd, training);
    } else {
      batch_norm_backward_typed<scalar_t, int64_t>(grad_x, grad_weight, grad_bias, grad_out, x, weight, save_mean,
                                                   save_invstd, training);
    }
  });
}

}  // namespace

FF_REGISTER_KERNEL(batch_norm, CUDA, dispatch::kFloatingTypes, &batch_norm_cuda);
FF_REGISTER_KERNEL(batch_norm_backward, CUDA, dispatch::kFloatingTypes, &batch_norm_backward_cuda);

}  // namespace ff
