// combined_margin: option checks, forward and backward side by side; CPU kernels at the bottom
// (CUDA kernels in margin.cu). The per-element math lives in margin_math.h.
#include "ops/margin/margin.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "framework/dispatch/registry.h"

namespace ff {

// A training-time head: never exported (inference graphs end at the embedding).
FF_REGISTER_OP(combined_margin, dispatch::kDifferentiable);
FF_REGISTER_OP(combined_margin_backward, dispatch::kNoFlags);

void MarginOptions::validate() const {
  FF_CHECK(std::isfinite(m1) && m1 > 0.0, "combined_margin: m1 must be finite and > 0, got {}", m1);
  FF_CHECK(std::isfinite(m2) && m2 >= 0.0 && m2 < margin_math::kPi,
           "combined_margin: m2 must lie in [0, pi) (an angle in radians), got {}", m2);
  FF_CHECK(std::isfinite(m3), "combined_margin: m3 must be finite, got {}", m3);
  FF_CHECK(std::isfinite(scale) && scale > 0.0, "combined_margin: scale s must be finite and > 0, got {}", scale);
  FF_CHECK(interclass_filtering_threshold >= 0.0 && interclass_filtering_threshold <= 1.0,
           "combined_margin: interclass_filtering_threshold must lie in [0, 1] (0 = off), got {}",
           interclass_filtering_threshold);
}

margin_math::Constants MarginOptions::constants() const {
  return margin_math::make_constants(m1, m2, m3, scale, static_cast<int>(overflow),
                                     gradient == MarginGradient::kStraightThrough, interclass_filtering_threshold);
}

namespace {

DType slope_dtype(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

// Labels must be -1 or a column index; checked on the host (a CUDA label vector is N values).
template <typename I>
void check_labels_typed(const Tensor& host_labels, int64_t classes) {
  const I* lp = host_labels.data<I>();
  for (int64_t i = 0; i < host_labels.numel(); ++i) {
    const int64_t t = static_cast<int64_t>(lp[i]);
    FF_CHECK(t == -1 || (t >= 0 && t < classes),
             "combined_margin: labels[{}] = {} is out of range for cosines with {} columns (expected 0 <= label < "
             "{}, or -1 for a row whose class is not among these columns)",
             i, t, classes, classes);
  }
}

void check_labels(const Tensor& labels, int64_t classes) {
  const Tensor host = labels.device().is_cpu() ? labels : labels.to(Device());
  FF_DISPATCH_INDEX(host.dtype(), "combined_margin", [&] { check_labels_typed<scalar_t>(host, classes); });
}

}  // namespace

Tensor combined_margin(const Tensor& cosines, const Tensor& labels, const MarginOptions& options) {
  check_defined(cosines, "combined_margin", "cosines");
  check_defined(labels, "combined_margin", "labels");
  check_same_device({cosines, labels}, "combined_margin");
  options.validate();
  FF_CHECK(is_floating(cosines.dtype()), "combined_margin: cosines must be floating point, got {}",
           cosines.describe());
  FF_CHECK(cosines.dim() == 2, "combined_margin: cosines must be [N, C], got {}", cosines.describe());
  FF_CHECK(labels.dtype() == DType::Int64 || labels.dtype() == DType::Int32,
           "combined_margin: labels must be int64 or int32, got {}", labels.describe());
  FF_CHECK(labels.dim() == 1 && labels.size(0) == cosines.size(0),
           "combined_margin: labels {} do not match cosines {}: expected labels of shape [{}]", labels.describe(),
           cosines.describe(), cosines.size(0));
  const Tensor label_data = labels.detach().contiguous();
  check_labels(label_data, cosines.size(1));

  const margin_math::Constants c = options.constants();
  const Tensor x = cosines.detach();  // strided: the kernels read any layout
  Tensor out = Tensor::empty(cosines.sizes(), cosines.dtype(), cosines.device());
  Tensor row_slope = Tensor::empty({cosines.size(0)}, slope_dtype(cosines.dtype()), cosines.device());
  static const dispatch::OpHandle op("combined_margin");
  op.kernel<CombinedMarginKernel>(cosines.device().type, cosines.dtype())(out, row_slope, x, label_data, c);

  // The filter needs to know which columns it dropped: only then are the cosines kept.
  const bool keep_x = c.filter_threshold > 0.0;
  std::vector<Tensor> saved = {label_data, row_slope};
  if (keep_x) saved.push_back(x);
  const DType dtype = cosines.dtype();
  autograd::record("combined_margin", {cosines}, {out}, saved,
                   [c, keep_x, dtype](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     const Tensor& slope = ctx.saved(1);
                     const Tensor& raw_g = ctx.grad_outputs[0];
                     const Tensor g = raw_g.dtype() == dtype ? raw_g : raw_g.to(dtype);  // strided is fine
                     const Tensor saved_x = keep_x ? ctx.saved(2) : Tensor();
                     Tensor grad_x = Tensor::empty(g.sizes(), dtype, g.device());
                     static const dispatch::OpHandle backward_op("combined_margin_backward");
                     backward_op.kernel<CombinedMarginBackwardKernel>(g.device().type, dtype)(
                         grad_x, g, saved_x, ctx.saved(0), slope, c);
                     return {grad_x};
                   });
  return out;
}

// ---- CPU kernels --------------------------------------------------------------------------------------
namespace {

template <typename T>
using slope_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// out = s · clamp(x, -1, 1) over a contiguous row; NaN stays NaN. GCC only vectorises the
// compare-and-select clamp without trapping-math (FP compares could raise FE_INVALID), hence
// the attribute; the float/double instantiations then run at memory speed.
#if defined(__GNUC__) && !defined(__clang__)
#define FF_MARGIN_VECTORIZE __attribute__((optimize("no-trapping-math")))
#else
#define FF_MARGIN_VECTORIZE
#endif
template <typename T, typename A>
FF_MARGIN_VECTORIZE void clamp_scale_row(const T* __restrict__ in, T* __restrict__ out, int64_t n, A s) {
  for (int64_t j = 0; j < n; ++j) {
    A v = static_cast<A>(in[j]);
    v = v < A(-1) ? A(-1) : v;
    v = v > A(1) ? A(1) : v;
    out[j] = static_cast<T>(s * v);
  }
}

template <typename T, typename I>
void margin_forward_cpu_typed(const Tensor& out, const Tensor& row_slope, const Tensor& x, const Tensor& labels,
                              const margin_math::Constants& c) {
  using A = slope_t<T>;  // float for float/half/bfloat16, double for double
  const int64_t rows = x.size(0), cols = x.size(1);
  const int64_t rs = x.stride(0), cs = x.stride(1);
  const T* xp = x.data<T>();
  const I* lp = labels.data<I>();
  T* op = out.data<T>();
  A* sp = row_slope.data<A>();
  const A s = static_cast<A>(c.scale);
  const bool filter = c.filter_threshold > 0.0;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, cols));
  parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* xr = xp + i * rs;
      T* orow = op + i * cols;
      if (cs == 1 && !filter) {  // the hot path: one streaming clamp-and-scale over the row
        clamp_scale_row(xr, orow, cols, s);
      } else {
        for (int64_t j = 0; j < cols; ++j) {
          const A v = static_cast<A>(xr[j * cs]);
          orow[j] = static_cast<T>(margin_math::filtered(v, c) ? A(0) : s * margin_math::clamp_unit(v));
        }
      }
      const int64_t t = static_cast<int64_t>(lp[i]);
      if (t < 0) {
        sp[i] = A(0);
        continue;
      }
      A value, slope;
      margin_math::target_value(static_cast<A>(xr[t * cs]), c, &value, &slope);
      orow[t] = static_cast<T>(s * value);
      sp[i] = s * slope;
    }
  });
}

template <typename T, typename I>
void margin_backward_cpu_typed(const Tensor& grad_x, const Tensor& grad_out, const Tensor& x, const Tensor& labels,
                               const Tensor& row_slope, const margin_math::Constants& c) {
  using A = slope_t<T>;
  const int64_t rows = grad_out.size(0), cols = grad_out.size(1);
  const int64_t grs = grad_out.stride(0), gcs = grad_out.stride(1);
  const T* gp = grad_out.data<T>();
  const I* lp = labels.data<I>();
  const A* sp = row_slope.data<A>();
  T* gx = grad_x.data<T>();
  const A s = static_cast<A>(c.scale);
  const bool filter = x.defined();
  const T* xp = filter ? x.data<T>() : nullptr;
  const int64_t xrs = filter ? x.stride(0) : 0, xcs = filter ? x.stride(1) : 0;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, cols));
  parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* gr = gp + i * grs;
      T* orow = gx + i * cols;
      if (!filter) {
        for (int64_t j = 0; j < cols; ++j) orow[j] = static_cast<T>(s * static_cast<A>(gr[j * gcs]));
      } else {
        const T* xr = xp + i * xrs;
        for (int64_t j = 0; j < cols; ++j) {
          const bool drop = margin_math::filtered(static_cast<A>(xr[j * xcs]), c);
          orow[j] = static_cast<T>(drop ? A(0) : s * static_cast<A>(gr[j * gcs]));
        }
      }
      const int64_t t = static_cast<int64_t>(lp[i]);
      if (t >= 0) orow[t] = static_cast<T>(sp[i] * static_cast<A>(gr[t * gcs]));
    }
  });
}

void margin_forward_cpu(const Tensor& out, const Tensor& row_slope, const Tensor& x, const Tensor& labels,
                        const margin_math::Constants& c) {
  FF_DISPATCH_FLOATING(x.dtype(), "combined_margin", [&] {
    using value_t = scalar_t;
    FF_DISPATCH_INDEX(labels.dtype(), "combined_margin",
                      [&] { margin_forward_cpu_typed<value_t, scalar_t>(out, row_slope, x, labels, c); });
  });
}

void margin_backward_cpu(const Tensor& grad_x, const Tensor& grad_out, const Tensor& x, const Tensor& labels,
                         const Tensor& row_slope, const margin_math::Constants& c) {
  FF_DISPATCH_FLOATING(grad_out.dtype(), "combined_margin_backward", [&] {
    using value_t = scalar_t;
    FF_DISPATCH_INDEX(labels.dtype(), "combined_margin_backward",
                      [&] { margin_backward_cpu_typed<value_t, scalar_t>(grad_x, grad_out, x, labels, row_slope, c); });
  });
}

}  // namespace

FF_REGISTER_KERNEL(combined_margin, CPU, dispatch::kFloatingTypes, &margin_forward_cpu);
FF_REGISTER_KERNEL(combined_margin_backward, CPU, dispatch::kFloatingTypes, &margin_backward_cpu);

}  // namespace ff
