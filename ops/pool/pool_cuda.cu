// CUDA kernels of max_pool2d, avg_pool2d and global_avg_pool2d (forward and backward), NCHW.
//
// Forwards: one thread per output element, scanning its window in the CPU's order (so max
// picks the same first maximum, NaN included, and avg sums in the same order).
// Backwards are gathers, not scatters: one thread per input element visits the (few) output
// windows that contain it in ascending output order and adds their shares. No atomics, so the
// gradients are deterministic, and each element's additions happen in the CPU's order.
#include "framework/dispatch/registry.h"
#include "ops/common/nn_cuda_utils.cuh"
#include "ops/pool/pool.h"

namespace ff {
namespace {

using namespace cuda_nn;

struct Geometry {
  int64_t planes, h, w, h_out, w_out;
  int64_t kh, kw, sh, sw, ph, pw;
};

Geometry geometry(const Tensor& x_like, const Tensor& out_like, const Pool2dParams& p) {
  return {x_like.size(0) * x_like.size(1), x_like.size(2), x_like.size(3), out_like.size(2), out_like.size(3),
          p.kernel[0], p.kernel[1], p.stride[0], p.stride[1], p.padding[0], p.padding[1]};
}

// Window of output position o along one dim: [start, end) clipped to the input, and its
// length clipped only to the padded input (the count_include_pad divisor factor).
struct Window {
  int64_t start, end, padded_len;
};
__device__ __forceinline__ Window window(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t size) {
  const int64_t start = o * stride - pad;
  const int64_t padded_end = min(start + kernel, size + pad);
  return {max(start, int64_t{0}), min(padded_end, size), padded_end - start};
}

// Output positions whose window contains input position i: o * stride - pad <= i < o * stride - pad + kernel.
__device__ __forceinline__ void covering_outputs(int64_t i, int64_t stride, int64_t pad, int64_t kernel,
                                                 int64_t out_size, int64_t* lo, int64_t* hi) {
  const int64_t num = i + pad - kernel + 1;  // o >= ceil(num / stride)
  *lo = num <= 0 ? 0 : (num + stride - 1) / stride;
  *hi = min(out_size, (i + pad) / stride + 1);  // o <= floor((i + pad) / stride)
}

template <typename T>
__global__ void max_pool_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t* __restrict__ indices,
                                Geometry g) {
  using A = acc_t_of<T>;
  const int64_t total = g.planes * g.h_out * g.w_out;
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ow = o % g.w_out, oh = (o / g.w_out) % g.h_out, plane = o / (g.w_out * g.h_out);
    const Window wh = window(oh, g.sh, g.ph, g.kh, g.h), ww = window(ow, g.sw, g.pw, g.kw, g.w);
    const T* xs = x + plane * g.h * g.w;
    A best = -infinity<A>();
    int64_t best_at = wh.start * g.w + ww.start;
    bool saw_nan = false;  // the first NaN wins and ends the scan
    for (int64_t ih = wh.start; ih < wh.end && !saw_nan; ++ih) {
      for (int64_t iw = ww.start; iw < ww.end && !saw_nan; ++iw) {
        const A v = to_acc(xs[ih * g.w + iw]);
        saw_nan = v != v;
        if (v > best || saw_nan) {
          best = v;
          best_at = ih * g.w + iw;
        }
      }
    }
    out[o] = from_acc<T>(best);
    indices[o] = best_at;
  }
}

template <typename T>
__global__ void max_pool_backward_kernel(const T* __restrict__ go, const int64_t* __restrict__ indices,
                                         T* __restrict__ gx, Geometry g) {
  using A = acc_t_of<T>;
  const int64_t total = g.planes * g.h * g.w;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t iw = i % g.w, ih = (i / g.w) % g.h, plane = i / (g.w * g.h);
    const int64_t here = ih * g.w + iw;
    int64_t oh0, oh1, ow0, ow1;
    covering_outputs(ih, g.sh, g.ph, g.kh, g.h_out, &oh0, &oh1);
    covering_outputs(iw, g.sw, g.pw, g.kw, g.w_out, &ow0, &ow1);
    const int64_t base = plane * g.h_out * g.w_out;
    A acc = 0;
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const int64_t o = base + oh * g.w_out + ow;
        if (indices[o] == here) acc += to_acc(go[o]);
      }
    }
    gx[i] = from_acc<T>(acc);
  }
}

__device__ __forceinline__ int64_t avg_divisor(const Window& wh, const Window& ww, bool count_include_pad) {
  return count_include_pad ? wh.padded_len * ww.padded_len : (wh.end - wh.start) * (ww.end - ww.start);
}

template <typename T>
__global__ void avg_pool_kernel(const T* __restrict__ x, T* __restrict__ out, Geometry g, bool count_include_pad) {
  using A = acc_t_of<T>;
  const int64_t total = g.planes * g.h_out * g.w_out;
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ow = o % g.w_out, oh = (o / g.w_out) % g.h_out, plane = o / (g.w_out * g.h_out);
    const Window wh = window(oh, g.sh, g.ph, g.kh, g.h), ww = window(ow, g.sw, g.pw, g.kw, g.w);
    const T* xs = x + plane * g.h * g.w;
    A total_v = 0;
    for (int64_t ih = wh.start; ih < wh.end; ++ih) {
      for (int64_t iw = ww.start; iw < ww.end; ++iw) total_v += to_acc(xs[ih * g.w + iw]);
    }
    out[o] = from_acc<T>(total_v / static_cast<A>(avg_divisor(wh, ww, count_include_pad)));
  }
}

template <typename T>
__global__ void avg_pool_backward_kernel(const T* __restrict__ go, T* __restrict__ gx, Geometry g,
                                         bool count_include_pad) {
  using A = acc_t_of<T>;
  const int64_t total = g.planes * g.h * g.w;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t iw = i % g.w, ih = (i / g.w) % g.h, plane = i / (g.w * g.h);
    int64_t oh0, oh1, ow0, ow1;
    covering_outputs(ih, g.sh, g.ph, g.kh, g.h_out, &oh0, &oh1);
    covering_outputs(iw, g.sw, g.pw, g.kw, g.w_out, &ow0, &ow1);
    const int64_t base = plane * g.h_out * g.w_out;
    A acc = 0;
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      const Window wh = window(oh, g.sh, g.ph, g.kh, g.h);
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const Window ww = window(ow, g.sw, g.pw, g.kw, g.w);
        acc += to_acc(go[base + oh * g.w_out + ow]) / static_cast<A>(avg_divisor(wh, ww, count_include_pad));
      }
    }
    gx[i] = from_acc<T>(acc);
  }
}

// One block per (n, c) plane; the sum is in double, like the CPU reference.
template <typename T>
__global__ void global_avg_pool_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t planes, int64_t hw) {
  using A = acc_t_of<T>;
  for (int64_t plane = blockIdx.x; plane < planes; plane += gridDim.x) {
    const T* xs = x + plane * hw;
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < hw; i += blockDim.x) s += static_cast<double>(to_acc(xs[i]));
    s = block_reduce(s, SumOp{}, 0.0);
    if (threadIdx.x == 0) out[plane] = from_acc<T>(static_cast<A>(s / static_cast<double>(hw)));
  }
}

template <typename T>
__global__ void global_avg_pool_backward_kernel(const T* __restrict__ go, T* __restrict__ gx, int64_t planes,
                                                int64_t hw) {
  using A = acc_t_of<T>;
  const int64_t total = planes * hw;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    gx[i] = from_acc<T>(to_acc(go[i / hw]) / static_cast<A>(hw));
  }
}

void max_pool_cuda(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dParams& p) {
  const Geometry g = geometry(x, out, p);
  const int64_t total = out.numel();
  if (total == 0) return;
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(x.dtype(), "max_pool2d", [&] {
    max_pool_kernel<scalar_t><<<grid_for(total), kThreads, 0, stream>>>(ptr<scalar_t>(x), ptr<scalar_t>(out),
                                                                        ptr<int64_t>(indices), g);
    FF_CUDA_CHECK_LAUNCH();
  });
}

void max_pool_backward_cuda(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices,
                            const Pool2dParams& p) {
  const Geometry g = geometry(grad_x, grad_out, p);
  const int64_t total = grad_x.numel();
  if (total == 0) return;
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(grad_x.dtype(), "max_pool2d_backward", [&] {
    max_pool_backward_kernel<scalar_t><<<grid_for(total), kThreads, 0, stream>>>(
        ptr<scalar_t>(grad_out), ptr<int64_t>(indices), ptr<scalar_t>(grad_x), g);
    FF_CUDA_CHECK_LAUNCH();
  });
}

void avg_pool_cuda(const Tensor& out, const Tensor& x, const Pool2dParams& p, bool count_include_pad) {
  const Geometry g = geometry(x, out, p);
  const int64_t total = out.numel();
  if (total == 0) return;
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(x.dtype(), "avg_pool2d", [&] {
    avg_pool_kernel<scalar_t><<<grid_for(total), kThreads, 0, stream>>>(ptr<scalar_t>(x), ptr<scalar_t>(out), g,
                                                                        count_include_pad);
    FF_CUDA_CHECK_LAUNCH();
  });
}

void avg_pool_backward_cuda(const Tensor& grad_x, const Tensor& grad_out, const Pool2dParams& p,
                            bool count_include_pad) {
  const Geometry g = geometry(grad_x, grad_out, p);
  const int64_t total = grad_x.numel();
  if (total == 0) return;
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(grad_x.dtype(), "avg_pool2d_backward", [&] {
    avg_pool_backward_kernel<scalar_t><<<grid_for(total), kThreads, 0, stream>>>(
        ptr<scalar_t>(grad_out), ptr<scalar_t>(grad_x), g, count_include_pad);
    FF_CUDA_CHECK_LAUNCH();
  });
}

void global_avg_pool_cuda(const Tensor& out, const Tensor& x) {
  const int64_t planes = x.size(0) * x.size(1), hw = x.size(2) * x.size(3);
  if (planes == 0) return;
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(x.dtype(), "global_avg_pool2d", [&] {
    global_avg_pool_kernel<scalar_t><<<static_cast<unsigned>(std::min(planes, kMaxGrid)), 128, 0, stream>>>(
        ptr<scalar_t>(x), ptr<scalar_t>(out), planes, hw);
    FF_CUDA_CHECK_LAUNCH();
  });
}

void global_avg_pool_backward_cuda(const Tensor& grad_x, const Tensor& grad_out) {
  const int64_t planes = grad_x.size(0) * grad_x.size(1), hw = grad_x.size(2) * grad_x.size(3);
  if (planes * hw == 0) return;
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(grad_x.dtype(), "global_avg_pool2d_backward", [&] {
    global_avg_pool_backward_kernel<scalar_t><<<grid_for(planes * hw), kThreads, 0, stream>>>(
        ptr<scalar_t>(grad_out), ptr<scalar_t>(grad_x), planes, hw);
    FF_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

FF_REGISTER_KERNEL(max_pool2d, CUDA, dispatch::kFloatingTypes, &max_pool_cuda);
FF_REGISTER_KERNEL(max_pool2d_backward, CUDA, dispatch::kFloatingTypes, &max_pool_backward_cuda);
FF_REGISTER_KERNEL(avg_pool2d, CUDA, dispatch::kFloatingTypes, &avg_pool_cuda);
FF_REGISTER_KERNEL(avg_pool2d_backward, CUDA, dispatch::kFloatingTypes, &avg_pool_backward_cuda);
FF_REGISTER_KERNEL(global_avg_pool2d, CUDA, dispatch::kFloatingTypes, &global_avg_pool_cuda);
FF_REGISTER_KERNEL(global_avg_pool2d_backward, CUDA, dispatch::kFloatingTypes, &global_avg_pool_backward_cuda);

}  // namespace ff
