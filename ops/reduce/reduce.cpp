// Reductions: forward and backward side by side; CPU kernels at the bottom.
#include "ops/reduce/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"
#include "ops/elementwise/binary.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"

namespace ff {

FF_REGISTER_OP(sum, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(mean, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(max, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(min, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(argmax, dispatch::kOnnxExportable);
FF_REGISTER_OP(argmin, dispatch::kOnnxExportable);

namespace {

const char* reduce_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Mean: return "mean";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
  }
  return "?";
}

// Which dims are reduced (empty `dims` = all).
std::vector<bool> reduced_mask(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  std::vector<bool> mask(x.dim(), dims.empty());
  for (int64_t d : dims) {
    const int64_t nd = normalize_dim(d, x.dim(), op);
    FF_CHECK(!mask[nd], "{}: dim {} given twice", op, d);
    mask[nd] = true;
  }
  return mask;
}

Shape keepdim_shape(const Tensor& x, const std::vector<bool>& mask) {
  Shape s = x.sizes();
  for (size_t i = 0; i < s.size(); ++i) {
    if (mask[i]) s[i] = 1;
  }
  return s;
}

Shape drop_reduced(const Shape& keep, const std::vector<bool>& mask) {
  Shape s;
  for (size_t i = 0; i < keep.size(); ++i) {
    if (!mask[i]) s.push_back(keep[i]);
  }
  return s;
}

// The reduced dims, ascending, for the graph tracer.
std::vector<int64_t> reduced_dims(const std::vector<bool>& mask) {
  std::vector<int64_t> dims;
  for (size_t i = 0; i < mask.size(); ++i)
    if (mask[i]) dims.push_back(static_cast<int64_t>(i));
  return dims;
}

// Runs the kernel into a keepdim-shaped tensor.
Tensor reduce_keepdim(const Tensor& x, const Shape& keep, ReduceOp op) {
  const char* name = reduce_name(op);
  static const std::vector<dispatch::OpHandle> handles = {dispatch::OpHandle("sum"), dispatch::OpHandle("mean"),
                                                          dispatch::OpHandle("max"), dispatch::OpHandle("min")};
  FF_CHECK(!((op == ReduceOp::Max || op == ReduceOp::Min) && x.numel() == 0 && shape_numel(keep) > 0),
           "{}: cannot reduce over an empty dimension of {}", name, x.describe());
  Tensor out = Tensor::empty(keep, x.dtype(), x.device());
  handles[static_cast<int>(op)].kernel<ReduceKernel>(x.device().type, x.dtype())(out, x.detach(), op);
  return out;
}

Tensor reduce(const Tensor& x_in, const std::vector<int64_t>& dims, bool keepdim, ReduceOp op) {
  graph::OpTrace trace(reduce_name(op));
  const char* name = reduce_name(op);
  check_defined(x_in, name, "x");
  // Like NumPy/PyTorch, integer and bool sums accumulate (and return) int64: counting a mask
  // must not overflow or wrap.
  const bool widen = op == ReduceOp::Sum && is_integral(x_in.dtype()) && x_in.dtype() != DType::Int64;
  const Tensor x = widen ? x_in.to(DType::Int64) : x_in;
  const std::vector<bool> mask = reduced_mask(x, dims, name);
  const Shape keep = keepdim_shape(x, mask);
  Tensor out_keep = reduce_keepdim(x, keep, op);
  Tensor out = keepdim ? out_keep : out_keep.detach().reshape(drop_reduced(keep, mask));
  const Shape in_shape = x.sizes();
  const int64_t count = x.numel() / std::max<int64_t>(1, shape_numel(keep));
  // Backward: bring g back to keepdim shape, then broadcast over the reduced dims.
  if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
    autograd::record(name, {x}, {out}, {}, [=](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
      Tensor g = ctx.grad_outputs[0].reshape(keep).expand(in_shape).contiguous();
      return {op == ReduceOp::Mean ? mul(g, 1.0 / static_cast<double>(count)) : g};
    });
  } else {
    autograd::record(name, {x}, {out}, {x, out_keep}, [=](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
      const Tensor& xs = ctx.saved(0);
      const Tensor& best = ctx.saved(1);
      const Tensor hit = cast(eq(xs, best), xs.dtype());  // 1 where x attains the extreme
      const Tensor ties = sum(hit, dims, /*keepdim=*/true);
      return {mul(hit, div(ctx.grad_outputs[0].reshape(keep), ties))};
    });
  }
  if (trace.recording()) {
    trace.record({x_in}, {out}, {{"dims", reduced_dims(mask)}, {"keepdim", int64_t{keepdim}}});
  }
  return out;
}

Tensor arg_reduce(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  graph::OpTrace trace(is_max ? "argmax" : "argmin");
  const char* name = is_max ? "argmax" : "argmin";
  check_defined(x, name, "x");
  const int64_t d = normalize_dim(dim, x.dim(), name);
  FF_CHECK(x.dim() == 0 || x.size(d) > 0, "{}: cannot reduce over empty dim {} of {}", name, d, x.describe());
  Shape keep = x.sizes();
  if (!keep.empty()) keep[d] = 1;
  Tensor out = Tensor::empty(keep, DType::Int64, x.device());
  static const dispatch::OpHandle hmax("argmax"), hmin("argmin");
  (is_max ? hmax : hmin).kernel<ArgReduceKernel>(x.device().type, x.dtype())(out, x.detach(), d, is_max);
  if (!keepdim && x.dim() > 0) out = out.squeeze(d);
  if (trace.recording()) trace.record({x}, {out}, {{"dim", d}, {"keepdim", int64_t{keepdim}}});
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return reduce(x, dims, keepdim, ReduceOp::Sum); }
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return reduce(x, dims, keepdim, ReduceOp::Mean); }
Tensor max(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return reduce(x, dims, keepdim, ReduceOp::Max); }
Tensor min(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return reduce(x, dims, keepdim, ReduceOp::Min); }
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return arg_reduce(x, dim, keepdim, true); }
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) { return arg_reduce(x, dim, keepdim, false); }

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_defined(x, "sum_to", "x");
  if (x.sizes() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  FF_CHECK(lead >= 0, "sum_to: cannot sum {} down to the larger shape {}", x.describe(), shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < lead) {
      dims.push_back(i);
    } else if (shape[i - lead] == 1 && x.size(i) != 1) {
      dims.push_back(i);
    } else {
      FF_CHECK(shape[i - lead] == x.size(i), "sum_to: {} does not broadcast from {}", x.describe(), shape_str(shape));
    }
  }
  if (dims.empty()) return x.reshape(shape);
  return sum(x, dims, /*keepdim=*/true).reshape(shape);
}

// ---- CPU kernels --------------------------------------------------------------------------------------
namespace {

// Splits x's dims into kept (outer, matching out) and reduced (inner) groups and calls
// visit(out_index, first_offset, reduced_sizes, reduced_strides) per output element.
struct ReducePlan {
  Shape kept_sizes;
  Strides kept_strides;     // x strides of the kept dims
  Shape red_sizes;
  Strides red_strides;      // x strides of the reduced dims
  int64_t red_count = 1;
};

ReducePlan plan_reduction(const Tensor& out, const Tensor& x) {
  ReducePlan p;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (out.size(d) == 1 && x.size(d) != 1) {
      p.red_sizes.push_back(x.size(d));
      p.red_strides.push_back(x.stride(d));
      p.red_count *= x.size(d);
    } else {
      p.kept_sizes.push_back(x.size(d));
      p.kept_strides.push_back(x.stride(d));
    }
  }
  return p;
}

// Offset of linear index `i` in a (sizes, strides) space.
inline int64_t offset_of(int64_t i, const Shape& sizes, const Strides& strides) {
  int64_t off = 0;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    off += (i % sizes[d]) * strides[d];
    i /= sizes[d];
  }
  return off;
}

template <typename T>
void reduce_cpu_typed(const Tensor& out, const Tensor& x, ReduceOp op) {
  // The reference accumulates in double: CUDA results are checked against it.
  const ReducePlan p = plan_reduction(out, x);
  const T* xp = x.data<T>();
  T* op_ = out.data<T>();
  const int64_t n_out = out.numel();
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, p.red_count));
  parallel_for(0, n_out, grain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx(p.red_sizes.size());
    for (int64_t o = begin; o < end; ++o) {
      const int64_t base = offset_of(o, p.kept_sizes, p.kept_strides);
      double acc = op == ReduceOp::Max ? -std::numeric_limits<double>::infinity()
                   : op == ReduceOp::Min ? std::numeric_limits<double>::infinity()
                                         : 0.0;
      bool nan = false;
      std::fill(idx.begin(), idx.end(), 0);
      int64_t off = base;
      for (int64_t r = 0; r < p.red_count; ++r) {
        const double v = static_cast<double>(static_cast<acc_t<T>>(xp[off]));
        switch (op) {
          case ReduceOp::Sum:
          case ReduceOp::Mean: acc += v; break;
          case ReduceOp::Max: nan |= v != v; acc = v > acc ? v : acc; break;
          case ReduceOp::Min: nan |= v != v; acc = v < acc ? v : acc; break;
        }
        for (int64_t d = static_cast<int64_t>(idx.size()) - 1; d >= 0; --d) {
          off += p.red_strides[d];
          if (++idx[d] < p.red_sizes[d]) break;
          off -= p.red_sizes[d] * p.red_strides[d];
          idx[d] = 0;
        }
      }
      if (op == ReduceOp::Mean) acc = p.red_count ? acc / static_cast<double>(p.red_count) : std::nan("");
      if (nan) acc = std::nan("");
      op_[o] = static_cast<T>(static_cast<acc_t<T>>(acc));
    }
  });
}

void reduce_cpu(const Tensor& out, const Tensor& x, ReduceOp op) {
  FF_DISPATCH_ALL(x.dtype(), reduce_name(op), [&] {
    if constexpr (std::is_same_v<scalar_t, bool>) {
      FF_THROW("{}: not supported for bool tensors", reduce_name(op));
    } else {
      reduce_cpu_typed<scalar_t>(out, x, op);
    }
  });
}

void arg_reduce_cpu(const Tensor& out, const Tensor& x, int64_t dim, bool is_max) {
  FF_DISPATCH_ALL(x.dtype(), is_max ? "argmax" : "argmin", [&] {
    using A = acc_t<scalar_t>;
    const scalar_t* xp = x.data<scalar_t>();
    int64_t* o = out.data<int64_t>();
    const int64_t n = x.dim() == 0 ? 1 : x.size(dim);
    const int64_t step = x.dim() == 0 ? 0 : x.stride(dim);
    Shape kept = out.sizes();
    Strides kept_strides = x.strides();
    if (!kept.empty()) kept[dim] = 1;
    const int64_t n_out = out.numel();
    parallel_for(0, n_out, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, n)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t base = offset_of(i, kept, kept_strides);
        int64_t best_i = 0;
        A best = A(xp[base]);
        for (int64_t k = 1; k < n; ++k) {
          const A v = A(xp[base + k * step]);
          if (best != best) break;  // NaN wins, like numpy
          if (v != v || (is_max ? v > best : v < best)) best = v, best_i = k;
        }
        o[i] = best_i;
      }
    });
  });
}

}  // namespace

FF_REGISTER_KERNEL(sum, CPU, dispatch::kNumericTypes, &reduce_cpu);
FF_REGISTER_KERNEL(mean, CPU, dispatch::kFloatingTypes, &reduce_cpu);
FF_REGISTER_KERNEL(max, CPU, dispatch::kNumericTypes, &reduce_cpu);
FF_REGISTER_KERNEL(min, CPU, dispatch::kNumericTypes, &reduce_cpu);
FF_REGISTER_KERNEL(argmax, CPU, dispatch::kNumericTypes, &arg_reduce_cpu);
FF_REGISTER_KERNEL(argmin, CPU, dispatch::kNumericTypes, &arg_reduce_cpu);

}  // namespace ff
