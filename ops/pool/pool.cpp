// 2-D pooling: validation, forward and backward side by side; CPU kernels at the bottom.
#include "ops/pool/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"

namespace ff {

FF_REGISTER_OP(max_pool2d, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(avg_pool2d, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(global_avg_pool2d, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(max_pool2d_backward, dispatch::kNoFlags);
FF_REGISTER_OP(avg_pool2d_backward, dispatch::kNoFlags);
FF_REGISTER_OP(global_avg_pool2d_backward, dispatch::kNoFlags);

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, bool ceil_mode) {
  const int64_t numerator = in + 2 * pad - kernel + (ceil_mode ? stride - 1 : 0);
  // Floor division (the numerator may be negative for inputs smaller than the kernel).
  int64_t out = (numerator >= 0 ? numerator / stride : -((-numerator + stride - 1) / stride)) + 1;
  if (ceil_mode && out > 0 && (out - 1) * stride >= in + pad) --out;  // last window must touch the input
  return out;
}

namespace {

// Validates x and p for `op`; returns p with the stride resolved and fills the output shape.
Pool2dParams check_pool(const Tensor& x, const Pool2dParams& p, const char* op, Shape* out_shape) {
  check_defined(x, op, "x");
  FF_CHECK(x.dim() == 4, "{}: input must be [N, C, H, W], got {}", op, x.describe());
  FF_CHECK(is_floating(x.dtype()), "{}: floating input required, got {}", op, x.describe());
  Pool2dParams r = p;
  for (int i = 0; i < 2; ++i) {
    if (r.stride[i] == 0) r.stride[i] = r.kernel[i];
  }
  const std::string desc = fmt::format("kernel [{}, {}], stride [{}, {}], padding [{}, {}]{}", r.kernel[0],
                                       r.kernel[1], r.stride[0], r.stride[1], r.padding[0], r.padding[1],
                                       r.ceil_mode ? ", ceil_mode" : "");
  *out_shape = {x.size(0), x.size(1), 0, 0};
  for (int i = 0; i < 2; ++i) {
    FF_CHECK(r.kernel[i] >= 1 && r.stride[i] >= 1, "{}: kernel and stride must be positive, got {}", op, desc);
    FF_CHECK(r.padding[i] >= 0 && r.padding[i] <= r.kernel[i] / 2,
             "{}: padding must be between 0 and half the kernel, got {}", op, desc);
    (*out_shape)[2 + i] = pool_output_size(x.size(2 + i), r.kernel[i], r.stride[i], r.padding[i], r.ceil_mode);
  }
  FF_CHECK((*out_shape)[2] >= 1 && (*out_shape)[3] >= 1,
           "{}: input {} is too small for {}: the output would be {}", op, x.describe(), desc,
           shape_str({(*out_shape)[2], (*out_shape)[3]}));
  return r;
}

// Graph attributes of a (resolved) pooling window, for the tracer.
graph::Attributes pool_attrs(const Pool2dParams& p) {
  return {{"kernel", graph::pair_ints(p.kernel)}, {"stride", graph::pair_ints(p.stride)},
          {"padding", graph::pair_ints(p.padding)}, {"ceil_mode", int64_t{p.ceil_mode}}};
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dParams& params) {
  graph::OpTrace trace("max_pool2d");
  Shape out_shape;
  const Pool2dParams p = check_pool(x, params, "max_pool2d", &out_shape);
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  Tensor indices = Tensor::empty(out_shape, DType::Int64, x.device());
  static const dispatch::OpHandle fwd("max_pool2d");
  fwd.kernel<MaxPool2dKernel>(x.device().type, x.dtype())(out, indices, x.detach().contiguous(), p);

  // The gradient of each window goes to the element the forward picked (the first maximum).
  const Shape x_shape = x.sizes();
  autograd::record("max_pool2d", {x}, {out}, {indices}, [p, x_shape](const autograd::BackwardContext& ctx) {
    const Tensor g = ctx.grad_outputs[0].contiguous();
    Tensor gx = Tensor::empty(x_shape, g.dtype(), g.device());
    static const dispatch::OpHandle bwd("max_pool2d_backward");
    bwd.kernel<MaxPool2dBackwardKernel>(g.device().type, g.dtype())(gx, g, ctx.saved(0), p);
    return std::vector<Tensor>{gx};
  });
  if (trace.recording()) trace.record({x}, {out}, pool_attrs(p));
  return out;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& params, bool count_include_pad) {
  graph::OpTrace trace("avg_pool2d");
  Shape out_shape;
  const Pool2dParams p = check_pool(x, params, "avg_pool2d", &out_shape);
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  static const dispatch::OpHandle fwd("avg_pool2d");
  fwd.kernel<AvgPool2dKernel>(x.device().type, x.dtype())(out, x.detach().contiguous(), p, count_include_pad);

  // Each window spreads its gradient evenly (divided by the forward's divisor) over its inputs.
  const Shape x_shape = x.sizes();
  autograd::record("avg_pool2d", {x}, {out}, {},
                   [p, x_shape, count_include_pad](const autograd::BackwardContext& ctx) {
                     const Tensor g = ctx.grad_outputs[0].contiguous();
                     Tensor gx = Tensor::empty(x_shape, g.dtype(), g.device());
                     static const dispatch::OpHandle bwd("avg_pool2d_backward");
                     bwd.kernel<AvgPool2dBackwardKernel>(g.device().type, g.dtype())(gx, g, p, count_include_pad);
                     return std::vector<Tensor>{gx};
                   });
  if (trace.recording()) {
    graph::Attributes attrs = pool_attrs(p);
    attrs["count_include_pad"] = int64_t{count_include_pad};
    trace.record({x}, {out}, std::move(attrs));
  }
  return out;
}

Tensor global_avg_pool2d(const Tensor& x) {
  graph::OpTrace trace("global_avg_pool2d");
  check_defined(x, "global_avg_pool2d", "x");
  FF_CHECK(x.dim() == 4, "global_avg_pool2d: input must be [N, C, H, W], got {}", x.describe());
  FF_CHECK(is_floating(x.dtype()), "global_avg_pool2d: floating input required, got {}", x.describe());
  FF_CHECK(x.size(2) * x.size(3) > 0, "global_avg_pool2d: input {} has an empty plane", x.describe());
  Tensor out = Tensor::empty({x.size(0), x.size(1), 1, 1}, x.dtype(), x.device());
  static const dispatch::OpHandle fwd("global_avg_pool2d");
  fwd.kernel<GlobalAvgPool2dKernel>(x.device().type, x.dtype())(out, x.detach().contiguous());

  const Shape x_shape = x.sizes();
  autograd::record("global_avg_pool2d", {x}, {out}, {}, [x_shape](const autograd::BackwardContext& ctx) {
    const Tensor g = ctx.grad_outputs[0].contiguous();
    Tensor gx = Tensor::empty(x_shape, g.dtype(), g.device());
    static const dispatch::OpHandle bwd("global_avg_pool2d_backward");
    bwd.kernel<GlobalAvgPool2dBackwardKernel>(g.device().type, g.dtype())(gx, g);
    return std::vector<Tensor>{gx};
  });
  if (trace.recording()) trace.record({x}, {out});
  return out;
}

// ---- CPU kernels --------------------------------------------------------------------------------------
namespace {

// Every kernel walks (n, c) planes in parallel; a plane is read and written by one thread only.
struct PoolGeometry {
  int64_t planes, h, w, h_out, w_out;
  int64_t kh, kw, sh, sw, ph, pw;
};

PoolGeometry geometry(const Tensor& x_like, const Tensor& out_like, const Pool2dParams& p) {
  return {x_like.size(0) * x_like.size(1),
          x_like.size(2),
          x_like.size(3),
          out_like.size(2),
          out_like.size(3),
          p.kernel[0],
          p.kernel[1],
          p.stride[0],
          p.stride[1],
          p.padding[0],
          p.padding[1]};
}

// Window [start, end) of output position o in one dim, clipped to the input, and the length of
// the window clipped only to the padded input (the count_include_pad divisor factor).
struct Window {
  int64_t start, end, padded_len;
};
inline Window window(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t size) {
  const int64_t start = o * stride - pad;
  const int64_t padded_end = std::min(start + kernel, size + pad);
  return {std::max<int64_t>(start, 0), std::min(padded_end, size), padded_end - start};
}

inline int64_t plane_grain(const PoolGeometry& g) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, g.h_out * g.w_out * g.kh * g.kw));
}

// Calls visit(plane_input, out_index, window_h, window_w) for every output position, with the
// planes split across threads; plane_input points at the start of that output's input plane.
template <typename T, typename Visit>
void for_each_pool_window(const PoolGeometry& g, const T* x, const Visit& visit) {
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* xs = x + plane * g.h * g.w;
      for (int64_t oh = 0; oh < g.h_out; ++oh) {
        const Window wh = window(oh, g.sh, g.ph, g.kh, g.h);
        for (int64_t ow = 0; ow < g.w_out; ++ow) {
          visit(xs, (plane * g.h_out + oh) * g.w_out + ow, wh, window(ow, g.sw, g.pw, g.kw, g.w));
        }
      }
    }
  });
}

template <typename T>
void max_pool_cpu_typed(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dParams& p) {
  using A = acc_t<T>;
  const PoolGeometry g = geometry(x, out, p);
  const T* xp = x.data<T>();
  T* op = out.data<T>();
  int64_t* ip = indices.data<int64_t>();
  for_each_pool_window(g, xp, [&](const T* xs, int64_t o, const Window& wh, const Window& ww) {
    A best = -std::numeric_limits<A>::infinity();
    int64_t best_at = wh.start * g.w + ww.start;  // windows always overlap the input
    bool saw_nan = false;  // NaN propagates: the first NaN wins and ends the scan
    for (int64_t ih = wh.start; ih < wh.end && !saw_nan; ++ih) {
      for (int64_t iw = ww.start; iw < ww.end && !saw_nan; ++iw) {
        const A v = static_cast<A>(xs[ih * g.w + iw]);
        saw_nan = std::isnan(v);
        if (v > best || saw_nan) {  // strict: among ties the first maximum keeps the gradient
          best = v;
          best_at = ih * g.w + iw;
        }
      }
    }
    op[o] = static_cast<T>(best);
    ip[o] = best_at;
  });
}

template <typename T>
void max_pool_backward_cpu_typed(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices,
                                 const Pool2dParams& p) {
  using A = acc_t<T>;
  const PoolGeometry g = geometry(grad_x, grad_out, p);
  T* gx = grad_x.data<T>();
  const T* go = grad_out.data<T>();
  const int64_t* ip = indices.data<int64_t>();
  const int64_t hw = g.h * g.w, hw_out = g.h_out * g.w_out;
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t begin, int64_t end) {
    std::vector<A> acc(static_cast<size_t>(hw));  // overlapping windows sum in the compute type
    for (int64_t plane = begin; plane < end; ++plane) {
      std::fill(acc.begin(), acc.end(), A(0));
      for (int64_t o = 0; o < hw_out; ++o) acc[ip[plane * hw_out + o]] += static_cast<A>(go[plane * hw_out + o]);
      for (int64_t i = 0; i < hw; ++i) gx[plane * hw + i] = static_cast<T>(acc[i]);
    }
  });
}

inline int64_t avg_divisor(const Window& wh, const Window& ww, bool count_include_pad) {
  return count_include_pad ? wh.padded_len * ww.padded_len : (wh.end - wh.start) * (ww.end - ww.start);
}

template <typename T>
void avg_pool_cpu_typed(const Tensor& out, const Tensor& x, const Pool2dParams& p, bool count_include_pad) {
  using A = acc_t<T>;
  const PoolGeometry g = geometry(x, out, p);
  const T* xp = x.data<T>();
  T* op = out.data<T>();
  for_each_pool_window(g, xp, [&](const T* xs, int64_t o, const Window& wh, const Window& ww) {
    A total = 0;
    for (int64_t ih = wh.start; ih < wh.end; ++ih) {
      for (int64_t iw = ww.start; iw < ww.end; ++iw) total += static_cast<A>(xs[ih * g.w + iw]);
    }
    const int64_t divisor = avg_divisor(wh, ww, count_include_pad);
    op[o] = static_cast<T>(total / static_cast<A>(divisor));
  });
}

template <typename T>
void avg_pool_backward_cpu_typed(const Tensor& grad_x, const Tensor& grad_out, const Pool2dParams& p,
                                 bool count_include_pad) {
  using A = acc_t<T>;
  const PoolGeometry g = geometry(grad_x, grad_out, p);
  T* gx = grad_x.data<T>();
  const T* go = grad_out.data<T>();
  const int64_t hw = g.h * g.w;
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t begin, int64_t end) {
    std::vector<A> acc(static_cast<size_t>(hw));
    for (int64_t plane = begin; plane < end; ++plane) {
      std::fill(acc.begin(), acc.end(), A(0));
      for (int64_t oh = 0; oh < g.h_out; ++oh) {
        const Window wh = window(oh, g.sh, g.ph, g.kh, g.h);
        for (int64_t ow = 0; ow < g.w_out; ++ow) {
          const Window ww = window(ow, g.sw, g.pw, g.kw, g.w);
          const A share = static_cast<A>(go[(plane * g.h_out + oh) * g.w_out + ow]) /
                          static_cast<A>(avg_divisor(wh, ww, count_include_pad));
          for (int64_t ih = wh.start; ih < wh.end; ++ih) {
            for (int64_t iw = ww.start; iw < ww.end; ++iw) acc[ih * g.w + iw] += share;
          }
        }
      }
      for (int64_t i = 0; i < hw; ++i) gx[plane * hw + i] = static_cast<T>(acc[i]);
    }
  });
}

template <typename T>
void global_avg_pool_cpu_typed(const Tensor& out, const Tensor& x) {
  const int64_t planes = x.size(0) * x.size(1), hw = x.size(2) * x.size(3);
  const T* xp = x.data<T>();
  T* op = out.data<T>();
  parallel_for(0, planes, std::max<int64_t>(1, kParallelGrain / hw), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      double total = 0.0;  // the reference accumulates in double, like the reductions
      for (int64_t i = 0; i < hw; ++i) total += static_cast<double>(static_cast<acc_t<T>>(xp[plane * hw + i]));
      op[plane] = static_cast<T>(static_cast<acc_t<T>>(total / static_cast<double>(hw)));
    }
  });
}

template <typename T>
void global_avg_pool_backward_cpu_typed(const Tensor& grad_x, const Tensor& grad_out) {
  using A = acc_t<T>;
  const int64_t planes = grad_x.size(0) * grad_x.size(1), hw = grad_x.size(2) * grad_x.size(3);
  T* gx = grad_x.data<T>();
  const T* go = grad_out.data<T>();
  parallel_for(0, planes, std::max<int64_t>(1, kParallelGrain / hw), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T share = static_cast<T>(static_cast<A>(go[plane]) / static_cast<A>(hw));
      std::fill(gx + plane * hw, gx + (plane + 1) * hw, share);
    }
  });
}

void max_pool_cpu(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dParams& p) {
  FF_DISPATCH_FLOATING(x.dtype(), "max_pool2d", [&] { max_pool_cpu_typed<scalar_t>(out, indices, x, p); });
}
void max_pool_backward_cpu(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices, const Pool2dParams& p) {
  FF_DISPATCH_FLOATING(grad_x.dtype(), "max_pool2d_backward",
                       [&] { max_pool_backward_cpu_typed<scalar_t>(grad_x, grad_out, indices, p); });
}
void avg_pool_cpu(const Tensor& out, const Tensor& x, const Pool2dParams& p, bool count_include_pad) {
  FF_DISPATCH_FLOATING(x.dtype(), "avg_pool2d", [&] { avg_pool_cpu_typed<scalar_t>(out, x, p, count_include_pad); });
}
void avg_pool_backward_cpu(const Tensor& grad_x, const Tensor& grad_out, const Pool2dParams& p,
                           bool count_include_pad) {
  FF_DISPATCH_FLOATING(grad_x.dtype(), "avg_pool2d_backward",
                       [&] { avg_pool_backward_cpu_typed<scalar_t>(grad_x, grad_out, p, count_include_pad); });
}
void global_avg_pool_cpu(const Tensor& out, const Tensor& x) {
  FF_DISPATCH_FLOATING(x.dtype(), "global_avg_pool2d", [&] { global_avg_pool_cpu_typed<scalar_t>(out, x); });
}
void global_avg_pool_backward_cpu(const Tensor& grad_x, const Tensor& grad_out) {
  FF_DISPATCH_FLOATING(grad_x.dtype(), "global_avg_pool2d_backward",
                       [&] { global_avg_pool_backward_cpu_typed<scalar_t>(grad_x, grad_out); });
}

}  // namespace

FF_REGISTER_KERNEL(max_pool2d, CPU, dispatch::kFloatingTypes, &max_pool_cpu);
FF_REGISTER_KERNEL(max_pool2d_backward, CPU, dispatch::kFloatingTypes, &max_pool_backward_cpu);
FF_REGISTER_KERNEL(avg_pool2d, CPU, dispatch::kFloatingTypes, &avg_pool_cpu);
FF_REGISTER_KERNEL(avg_pool2d_backward, CPU, dispatch::kFloatingTypes, &avg_pool_backward_cpu);
FF_REGISTER_KERNEL(global_avg_pool2d, CPU, dispatch::kFloatingTypes, &global_avg_pool_cpu);
FF_REGISTER_KERNEL(global_avg_pool2d_backward, CPU, dispatch::kFloatingTypes, &global_avg_pool_backward_cpu);

}  // namespace ff
