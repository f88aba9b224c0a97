// CUDA kernels of combined_margin (float32 and float64), registered for the dispatcher. The
// kernels themselves are in margin_kernels.cuh; this file adapts tensors to them and launches
// on ff::cuda::current_stream() (asynchronous; label validation happened on the host).
#include "framework/cuda/cuda_runtime.h"
#include "framework/dispatch/registry.h"
#include "ops/margin/margin.h"
#include "ops/margin/margin_kernels.cuh"

namespace ff {
namespace {

void check_launch(cudaError_t status, const char* op, const Tensor& t) {
  FF_CHECK(status == cudaSuccess, "{}: CUDA kernel launch failed for {}: {}", op, t.describe(),
           cudaGetErrorString(status));
}

cudaStream_t stream() { return cuda::current_stream(); }

margin_cuda::Layout layout_of(const Tensor& t) {
  margin_cuda::Layout l;
  l.rows = t.size(0);
  l.cols = t.size(1);
  l.row_stride = t.stride(0);
  l.col_stride = t.stride(1);
  return l;
}

void margin_forward_cuda(const Tensor& out, const Tensor& row_slope, const Tensor& x, const Tensor& labels,
                         const margin_math::Constants& c) {
  auto run = [&](auto value_tag) {
    using T = decltype(value_tag);
    FF_DISPATCH_INDEX(labels.dtype(), "combined_margin", [&] {
      check_launch(margin_cuda::launch_margin_forward<T, scalar_t>(x.data<T>(), layout_of(x), labels.data<scalar_t>(),
                                                                    out.data<T>(), row_slope.data<T>(), c, stream()),
                   "combined_margin", x);
    });
  };
  if (x.dtype() == DType::Float64) {
    run(double{});
  } else {
    FF_CHECK(x.dtype() == DType::Float32, "combined_margin: CUDA kernel supports float32/float64, got {}", x.describe());
    run(float{});
  }
}

void margin_backward_cuda(const Tensor& grad_x, const Tensor& grad_out, const Tensor& x, const Tensor& labels,
                          const Tensor& row_slope, const margin_math::Constants& c) {
  auto run = [&](auto value_tag) {
    using T = decltype(value_tag);
    const T* xp = x.defined() ? x.data<T>() : nullptr;
    const int64_t xrs = x.defined() ? x.stride(0) : 0, xcs = x.defined() ? x.stride(1) : 0;
    FF_DISPATCH_INDEX(labels.dtype(), "combined_margin_backward", [&] {
      check_launch(margin_cuda::launch_margin_backward<T, scalar_t>(grad_out.data<T>(), layout_of(grad_out), xp, xrs,
                                                                     xcs, labels.data<scalar_t>(), row_slope.data<T>(),
                                                                     grad_x.data<T>(), c, stream()),
                   "combined_margin_backward", grad_out);
    });
  };
  if (grad_out.dtype() == DType::Float64) {
    run(double{});
  } else {
    FF_CHECK(grad_out.dtype() == DType::Float32, "combined_margin_backward: CUDA kernel supports float32/float64, got {}",
             grad_out.describe());
    run(float{});
  }
}

}  // namespace

FF_REGISTER_KERNEL(combined_margin, CUDA, dispatch::kFloat32And64, &margin_forward_cuda);
FF_REGISTER_KERNEL(combined_margin_backward, CUDA, dispatch::kFloat32And64, &margin_backward_cuda);

}  // namespace ff
