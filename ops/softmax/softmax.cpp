// Softmax, log-softmax and fused cross-entropy: forward and backward side by side; CPU kernels
// at the bottom. Every row is max-subtracted before exponentiating and its sums accumulate in
// double, so large logits neither overflow nor lose the small terms.
#include "ops/common/dim_layout.h"
#include "ops/softmax/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"

namespace ff {

FF_REGISTER_OP(softmax, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(softmax_backward, dispatch::kNoFlags);
FF_REGISTER_OP(log_softmax, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(log_softmax_backward, dispatch::kNoFlags);
// A training loss: never part of an exported inference graph.
FF_REGISTER_OP(cross_entropy, dispatch::kDifferentiable);
FF_REGISTER_OP(cross_entropy_backward, dispatch::kNoFlags);

namespace {

// Row statistics dtype: float64 for float64 logits, float32 otherwise.
DType stat_dtype(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

Tensor contiguous_grad(const Tensor& g, DType dtype) { return (g.dtype() == dtype ? g : g.to(dtype)).contiguous(); }

Tensor softmax_common(const Tensor& x, int64_t dim, bool log) {
  graph::OpTrace trace(log ? "log_softmax" : "softmax");
  const char* name = log ? "log_softmax" : "softmax";
  check_defined(x, name, "x");
  FF_CHECK(is_floating(x.dtype()), "{}: input must be floating point, got {}", name, x.describe());
  const int64_t d = normalize_dim(dim, x.dim(), name);
  const Tensor x_data = x.detach().contiguous();
  Tensor out = Tensor::empty(x.sizes(), x.dtype(), x.device());
  static const dispatch::OpHandle softmax_op("softmax"), log_softmax_op("log_softmax");
  (log ? log_softmax_op : softmax_op).kernel<SoftmaxKernel>(x.device().type, x.dtype())(out, x_data, d, log);
  // Both gradients are functions of the output alone, so only y is kept.
  autograd::record(name, {x}, {out}, {out}, [d, log](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    const Tensor& y = ctx.saved(0);
    const Tensor g = contiguous_grad(ctx.grad_outputs[0], y.dtype());
    Tensor grad_x = Tensor::empty(y.sizes(), y.dtype(), y.device());
    static const dispatch::OpHandle softmax_bw("softmax_backward"), log_softmax_bw("log_softmax_backward");
    (log ? log_softmax_bw : softmax_bw).kernel<SoftmaxBackwardKernel>(y.device().type, y.dtype())(grad_x, g, y, d, log);
    return {grad_x};
  });
  if (trace.recording()) trace.record({x}, {out}, {{"dim", d}});
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_common(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_common(x, dim, true); }

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction, int64_t ignore_index) {
  check_defined(logits, "cross_entropy", "logits");
  check_defined(target, "cross_entropy", "target");
  check_same_device({logits, target}, "cross_entropy");
  FF_CHECK(is_floating(logits.dtype()), "cross_entropy: logits must be floating point, got {}", logits.describe());
  FF_CHECK(logits.dim() == 2, "cross_entropy: logits must be [N, C], got {}", logits.describe());
  FF_CHECK(target.dtype() == DType::Int64 || target.dtype() == DType::Int32,
           "cross_entropy: target must hold int64 or int32 class ids, got {}", target.describe());
  const int64_t rows = logits.size(0);
  FF_CHECK(target.dim() == 1 && target.size(0) == rows,
           "cross_entropy: target {} does not match logits {}: expected a target of shape [{}]", target.describe(),
           logits.describe(), rows);
  const Tensor logits_data = logits.detach().contiguous();
  const Tensor target_data = target.detach().contiguous();
  Tensor out = Tensor::empty(reduction == Reduction::None ? Shape{rows} : Shape{}, logits.dtype(), logits.device());
  Tensor row_lse = Tensor::empty({rows}, stat_dtype(logits.dtype()), logits.device());
  static const dispatch::OpHandle op("cross_entropy");
  op.kernel<CrossEntropyKernel>(logits.device().type, logits.dtype())(out, row_lse, logits_data, target_data, reduction,
                                                                      ignore_index);
  autograd::record(
      "cross_entropy", {logits}, {out}, {logits_data, target_data, row_lse},
      [reduction, ignore_index](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
        const Tensor& x = ctx.saved(0);
        const Tensor g = contiguous_grad(ctx.grad_outputs[0], x.dtype());
        Tensor grad_logits = Tensor::empty(x.sizes(), x.dtype(), x.device());
        static const dispatch::OpHandle backward_op("cross_entropy_backward");
        backward_op.kernel<CrossEntropyBackwardKernel>(x.device().type, x.dtype())(
            grad_logits, g, x, ctx.saved(1), ctx.saved(2), reduction, ignore_index);
        return {grad_logits};
      });
  return out;
}

// ---- CPU kernels --------------------------------------------------------------------------------------
namespace {

template <typename T>
using stat_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Calls body(base, width, stride) for blocks of up to kRowBlock adjacent rows sharing an outer
// index (row b of a block starts at base + b and steps by stride = inner). Walking a block
// element-row by element-row keeps softmax over a non-last dim cache-friendly.
constexpr int64_t kRowBlock = 64;

template <typename Body>
void for_each_row_block(const DimLayout& l, Body&& body) {
  if (l.outer * l.length * l.inner == 0) return;
  const int64_t blocks_per_outer = (l.inner + kRowBlock - 1) / kRowBlock;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, l.length * kRowBlock));
  parallel_for(0, l.outer * blocks_per_outer, grain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t o = b / blocks_per_outer;
      const int64_t j0 = (b % blocks_per_outer) * kRowBlock;
      body(o * l.length * l.inner + j0, std::min(kRowBlock, l.inner - j0), l.inner);
    }
  });
}

template <typename T>
void softmax_cpu_typed(const Tensor& out, const Tensor& x, int64_t dim, bool log) {
  using A = acc_t<T>;
  const T* xp = x.data<T>();
  T* op = out.data<T>();
  const DimLayout l = dim_layout(x, dim);
  for_each_row_block(l, [&](int64_t base, int64_t width, int64_t stride) {
    // NaN never wins the max; it then poisons the sum and the whole row, as it should.
    A row_max[kRowBlock];
    std::fill(row_max, row_max + width, -std::numeric_limits<A>::infinity());
    for (int64_t k = 0; k < l.length; ++k) {
      const T* row = xp + base + k * stride;
      for (int64_t b = 0; b < width; ++b) row_max[b] = std::max(row_max[b], static_cast<A>(row[b]));
    }
    double sums[kRowBlock] = {};
    for (int64_t k = 0; k < l.length; ++k) {
      const T* row = xp + base + k * stride;
      for (int64_t b = 0; b < width; ++b) sums[b] += static_cast<double>(std::exp(static_cast<A>(row[b]) - row_max[b]));
    }
    A post[kRowBlock];  // log: log(sum) to subtract; softmax: 1 / sum to multiply
    for (int64_t b = 0; b < width; ++b) post[b] = static_cast<A>(log ? std::log(sums[b]) : 1.0 / sums[b]);
    for (int64_t k = 0; k < l.length; ++k) {
      const T* row = xp + base + k * stride;
      T* out_row = op + base + k * stride;
      for (int64_t b = 0; b < width; ++b) {
        const A shifted = static_cast<A>(row[b]) - row_max[b];
        out_row[b] = static_cast<T>(log ? shifted - post[b] : std::exp(shifted) * post[b]);
      }
    }
  });
}

template <typename T>
void softmax_backward_cpu_typed(const Tensor& grad_x, const Tensor& grad_out, const Tensor& out, int64_t dim, bool log) {
  using A = acc_t<T>;
  const T* gp = grad_out.data<T>();
  const T* yp = out.data<T>();
  T* gxp = grad_x.data<T>();
  const DimLayout l = dim_layout(out, dim);
  for_each_row_block(l, [&](int64_t base, int64_t width, int64_t stride) {
    double sums[kRowBlock] = {};  // log: sum(g); softmax: sum(g * y)
    for (int64_t k = 0; k < l.length; ++k) {
      const T* grow = gp + base + k * stride;
      const T* yrow = yp + base + k * stride;
      for (int64_t b = 0; b < width; ++b) {
        const double g = static_cast<double>(static_cast<A>(grow[b]));
        sums[b] += log ? g : g * static_cast<double>(static_cast<A>(yrow[b]));
      }
    }
    for (int64_t k = 0; k < l.length; ++k) {
      const T* grow = gp + base + k * stride;
      const T* yrow = yp + base + k * stride;
      T* gxrow = gxp + base + k * stride;
      for (int64_t b = 0; b < width; ++b) {
        const A g = static_cast<A>(grow[b]), y = static_cast<A>(yrow[b]), s = static_cast<A>(sums[b]);
        gxrow[b] = static_cast<T>(log ? g - std::exp(y) * s : y * (g - s));
      }
    }
  });
}

// Throws for the first target outside [0, classes) that is not ignore_index. Runs before any
// threads start, so the error never leaves a parallel region.
template <typename I>
void check_targets(const I* target, int64_t rows, int64_t classes, int64_t ignore_index) {
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t t = static_cast<int64_t>(target[i]);
    FF_CHECK(t == ignore_index || (t >= 0 && t < classes),
             "cross_entropy: target[{}] = {} is out of range for {} classes (expected 0 <= target < {}, or "
             "ignore_index {})",
             i, t, classes, classes, ignore_index);
  }
}

template <typename T, typename I>
void cross_entropy_cpu_typed(const Tensor& out, const Tensor& row_lse, const Tensor& logits, const Tensor& target,
                             Reduction reduction, int64_t ignore_index) {
  using A = acc_t<T>;
  using S = stat_t<T>;
  const int64_t rows = logits.size(0), classes = logits.size(1);
  const T* xp = logits.data<T>();
  const I* tp = target.data<I>();
  S* lsep = row_lse.data<S>();
  check_targets(tp, rows, classes, ignore_index);
  std::vector<double> losses(rows, 0.0);
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, classes));
  parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* row = xp + i * classes;
      double row_max = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < classes; ++j) row_max = std::max(row_max, static_cast<double>(static_cast<A>(row[j])));
      double sum = 0.0;
      for (int64_t j = 0; j < classes; ++j) sum += std::exp(static_cast<double>(static_cast<A>(row[j])) - row_max);
      const double lse = row_max + std::log(sum);
      lsep[i] = static_cast<S>(lse);
      const int64_t t = static_cast<int64_t>(tp[i]);
      if (t != ignore_index) losses[i] = lse - static_cast<double>(static_cast<A>(row[t]));
    }
  });
  T* op = out.data<T>();
  if (reduction == Reduction::None) {
    for (int64_t i = 0; i < rows; ++i) op[i] = static_cast<T>(static_cast<A>(losses[i]));
    return;
  }
  // Summed serially in row order: the loss does not depend on the thread count.
  double total = 0.0;
  int64_t counted = 0;
  for (int64_t i = 0; i < rows; ++i) {
    if (static_cast<int64_t>(tp[i]) == ignore_index) continue;
    total += losses[i];
    ++counted;
  }
  const double value = reduction == Reduction::Sum ? total : total / static_cast<double>(counted);  // 0/0 -> NaN
  op[0] = static_cast<T>(static_cast<A>(value));
}

template <typename T, typename I>
void cross_entropy_backward_cpu_typed(const Tensor& grad_logits, const Tensor& grad_out, const Tensor& logits,
                                      const Tensor& target, const Tensor& row_lse, Reduction reduction,
                                      int64_t ignore_index) {
  using A = acc_t<T>;
  using S = stat_t<T>;
  const int64_t rows = logits.size(0), classes = logits.size(1);
  const T* xp = logits.data<T>();
  const I* tp = target.data<I>();
  const S* lsep = row_lse.data<S>();
  const T* gp = grad_out.data<T>();
  T* gxp = grad_logits.data<T>();
  double shared_scale = 0.0;  // Mean and Sum: one upstream scalar for every row
  if (reduction != Reduction::None) {
    int64_t counted = 0;
    for (int64_t i = 0; i < rows; ++i) counted += static_cast<int64_t>(tp[i]) != ignore_index;
    shared_scale = static_cast<double>(static_cast<A>(gp[0]));
    if (reduction == Reduction::Mean) shared_scale /= static_cast<double>(counted);
  }
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, classes));
  parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T* grow = gxp + i * classes;
      const int64_t t = static_cast<int64_t>(tp[i]);
      if (t == ignore_index) {
        std::fill(grow, grow + classes, static_cast<T>(A(0)));
        continue;
      }
      const A scale = static_cast<A>(reduction == Reduction::None ? static_cast<double>(static_cast<A>(gp[i])) : shared_scale);
      const A lse = static_cast<A>(lsep[i]);
      const T* row = xp + i * classes;
      for (int64_t j = 0; j < classes; ++j) {
        const A p = std::exp(static_cast<A>(row[j]) - lse);
        grow[j] = static_cast<T>(scale * (j == t ? p - A(1) : p));
      }
    }
  });
}

void softmax_cpu(const Tensor& out, const Tensor& x, int64_t dim, bool log) {
  FF_DISPATCH_FLOATING(x.dtype(), log ? "log_softmax" : "softmax", [&] { softmax_cpu_typed<scalar_t>(out, x, dim, log); });
}

void softmax_backward_cpu(const Tensor& grad_x, const Tensor& grad_out, const Tensor& out, int64_t dim, bool log) {
  FF_DISPATCH_FLOATING(out.dtype(), log ? "log_softmax_backward" : "softmax_backward",
                       [&] { softmax_backward_cpu_typed<scalar_t>(grad_x, grad_out, out, dim, log); });
}

void cross_entropy_cpu(const Tensor& out, const Tensor& row_lse, const Tensor& logits, const Tensor& target,
                       Reduction reduction, int64_t ignore_index) {
  FF_DISPATCH_FLOATING(logits.dtype(), "cross_entropy", [&] {
    using logit_t = scalar_t;
    FF_DISPATCH_INDEX(target.dtype(), "cross_entropy", [&] {
      cross_entropy_cpu_typed<logit_t, scalar_t>(out, row_lse, logits, target, reduction, ignore_index);
    });
  });
}

void cross_entropy_backward_cpu(const Tensor& grad_logits, const Tensor& grad_out, const Tensor& logits,
                                const Tensor& target, const Tensor& row_lse, Reduction reduction, int64_t ignore_index) {
  FF_DISPATCH_FLOATING(logits.dtype(), "cross_entropy_backward", [&] {
    using logit_t = scalar_t;
    FF_DISPATCH_INDEX(target.dtype(), "cross_entropy_backward", [&] {
      cross_entropy_backward_cpu_typed<logit_t, scalar_t>(grad_logits, grad_out, logits, target, row_lse, reduction,
                                                          ignore_index);
    });
  });
}

}  // namespace

FF_REGISTER_KERNEL(softmax, CPU, dispatch::kFloatingTypes, &softmax_cpu);
FF_REGISTER_KERNEL(log_softmax, CPU, dispatch::kFloatingTypes, &softmax_cpu);
FF_REGISTER_KERNEL(softmax_backward, CPU, dispatch::kFloatingTypes, &softmax_backward_cpu);
FF_REGISTER_KERNEL(log_softmax_backward, CPU, dispatch::kFloatingTypes, &softmax_backward_cpu);
FF_REGISTER_KERNEL(cross_entropy, CPU, dispatch::kFloatingTypes, &cross_entropy_cpu);
FF_REGISTER_KERNEL(cross_entropy_backward, CPU, dispatch::kFloatingTypes, &cross_entropy_backward_cpu);

}  // namespace ff
