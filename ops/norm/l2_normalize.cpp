// L2 normalisation along one dim: forward and backward side by side; CPU kernels at the bottom.
#include "ops/common/dim_layout.h"
#include "ops/norm/l2_normalize.h"

#include <cmath>
#include <vector>

#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"

namespace ff {

FF_REGISTER_OP(l2_normalize, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(l2_normalize_backward, dispatch::kNoFlags);

Tensor l2_normalize(const Tensor& x, int64_t dim, double eps) {
  graph::OpTrace trace("l2_normalize");
  check_defined(x, "l2_normalize", "x");
  FF_CHECK(is_floating(x.dtype()), "l2_normalize: input must be floating point, got {}", x.describe());
  FF_CHECK(!std::isnan(eps) && eps >= 0.0, "l2_normalize: eps must be >= 0, got {}", eps);
  const int64_t d = normalize_dim(dim, x.dim(), "l2_normalize");
  const Tensor x_data = x.detach().contiguous();
  Tensor out = Tensor::empty(x.sizes(), x.dtype(), x.device());
  static const dispatch::OpHandle op("l2_normalize");
  op.kernel<L2NormalizeKernel>(x.device().type, x.dtype())(out, x_data, d, eps);
  autograd::record("l2_normalize", {x}, {out}, {x_data}, [d, eps](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    const Tensor& xs = ctx.saved(0);
    Tensor g = ctx.grad_outputs[0];
    if (g.dtype() != xs.dtype()) g = g.to(xs.dtype());
    g = g.contiguous();
    Tensor grad_x = Tensor::empty(xs.sizes(), xs.dtype(), xs.device());
    static const dispatch::OpHandle backward_op("l2_normalize_backward");
    backward_op.kernel<L2NormalizeBackwardKernel>(xs.device().type, xs.dtype())(grad_x, g, xs, d, eps);
    return {grad_x};
  });
  if (trace.recording()) trace.record({x}, {out}, {{"dim", d}, {"eps", eps}});
  return out;
}

// ---- CPU kernels --------------------------------------------------------------------------------------
namespace {

// Calls body(base, block, stride) for blocks of up to kInnerBlock adjacent slices that share an
// outer index: slice b of the block starts at base + b and steps by `stride` (= inner). Walking
// a block row by row keeps the inner > 1 case cache-friendly. Blocks are split over threads.
constexpr int64_t kInnerBlock = 64;

template <typename Body>
void for_each_slice_block(const DimLayout& l, Body&& body) {
  const int64_t blocks_per_outer = (l.inner + kInnerBlock - 1) / kInnerBlock;
  const int64_t blocks = l.outer * blocks_per_outer;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, l.length * kInnerBlock));
  parallel_for(0, blocks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t o = b / blocks_per_outer;
      const int64_t j0 = (b % blocks_per_outer) * kInnerBlock;
      const int64_t width = std::min(kInnerBlock, l.inner - j0);
      body(o * l.length * l.inner + j0, width, l.inner);
    }
  });
}

template <typename T>
void l2_normalize_cpu_typed(const Tensor& out, const Tensor& x, int64_t dim, double eps) {
  using A = acc_t<T>;
  const DimLayout l = dim_layout(x, dim);
  const T* xp = x.data<T>();
  T* op = out.data<T>();
  if (x.numel() == 0) return;
  for_each_slice_block(l, [&](int64_t base, int64_t width, int64_t stride) {
    double squares[kInnerBlock] = {};
    for (int64_t k = 0; k < l.length; ++k) {
      const T* row = xp + base + k * stride;
      for (int64_t b = 0; b < width; ++b) {
        const double v = static_cast<double>(static_cast<A>(row[b]));
        squares[b] += v * v;
      }
    }
    A inv_denom[kInnerBlock];
    for (int64_t b = 0; b < width; ++b) inv_denom[b] = static_cast<A>(1.0 / std::max(std::sqrt(squares[b]), eps));
    for (int64_t k = 0; k < l.length; ++k) {
      const T* row = xp + base + k * stride;
      T* out_row = op + base + k * stride;
      for (int64_t b = 0; b < width; ++b) out_row[b] = static_cast<T>(static_cast<A>(row[b]) * inv_denom[b]);
    }
  });
}

// With n = ||x|| and d = max(n, eps):
//   n >= eps (and n > 0): grad_x = grad / n - x * <grad, x> / n^3   (the norm depends on x)
//   n <  eps:             grad_x = grad / eps                       (the denominator is the constant eps)
template <typename T>
void l2_normalize_backward_cpu_typed(const Tensor& grad_x, const Tensor& grad_out, const Tensor& x, int64_t dim,
                                     double eps) {
  using A = acc_t<T>;
  const DimLayout l = dim_layout(x, dim);
  const T* xp = x.data<T>();
  const T* gp = grad_out.data<T>();
  T* gxp = grad_x.data<T>();
  if (x.numel() == 0) return;
  for_each_slice_block(l, [&](int64_t base, int64_t width, int64_t stride) {
    double squares[kInnerBlock] = {}, dots[kInnerBlock] = {};
    for (int64_t k = 0; k < l.length; ++k) {
      const T* xrow = xp + base + k * stride;
      const T* grow = gp + base + k * stride;
      for (int64_t b = 0; b < width; ++b) {
        const double v = static_cast<double>(static_cast<A>(xrow[b]));
        squares[b] += v * v;
        dots[b] += v * static_cast<double>(static_cast<A>(grow[b]));
      }
    }
    A grad_scale[kInnerBlock], x_scale[kInnerBlock];  // grad_x = grad * grad_scale - x * x_scale
    for (int64_t b = 0; b < width; ++b) {
      const double norm = std::sqrt(squares[b]);
      if (norm >= eps && norm > 0.0) {
        grad_scale[b] = static_cast<A>(1.0 / norm);
        x_scale[b] = static_cast<A>(dots[b] / (norm * norm * norm));
      } else {
        grad_scale[b] = static_cast<A>(1.0 / eps);
        x_scale[b] = A(0);
      }
    }
    for (int64_t k = 0; k < l.length; ++k) {
      const T* xrow = xp + base + k * stride;
      const T* grow = gp + base + k * stride;
      T* gxrow = gxp + base + k * stride;
      for (int64_t b = 0; b < width; ++b) {
        gxrow[b] = static_cast<T>(static_cast<A>(grow[b]) * grad_scale[b] - static_cast<A>(xrow[b]) * x_scale[b]);
      }
    }
  });
}

void l2_normalize_cpu(const Tensor& out, const Tensor& x, int64_t dim, double eps) {
  FF_DISPATCH_FLOATING(x.dtype(), "l2_normalize", [&] { l2_normalize_cpu_typed<scalar_t>(out, x, dim, eps); });
}

void l2_normalize_backward_cpu(const Tensor& grad_x, const Tensor& grad_out, const Tensor& x, int64_t dim, double eps) {
  FF_DISPATCH_FLOATING(x.dtype(), "l2_normalize_backward",
                       [&] { l2_normalize_backward_cpu_typed<scalar_t>(grad_x, grad_out, x, dim, eps); });
}

}  // namespace

FF_REGISTER_KERNEL(l2_normalize, CPU, dispatch::kFloatingTypes, &l2_normalize_cpu);
FF_REGISTER_KERNEL(l2_normalize_backward, CPU, dispatch::kFloatingTypes, &l2_normalize_backward_cpu);

}  // namespace ff
