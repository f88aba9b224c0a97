// Batch normalisation: forward and backward side by side; CPU kernels at the bottom.
//
// The op layer validates, brings x to a contiguous [N, C, S...] layout and every [C] tensor
// to the stat dtype (float32, or float64 for float64 x), then calls one forward kernel and,
// in backward, one fused backward kernel. These are the names a cuDNN backend registers too.
#include "ops/norm/batch_norm.h"

#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"
#include "ops/tensor_ops/copy.h"

namespace ff {

FF_REGISTER_OP(batch_norm, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(batch_norm_backward, dispatch::kNoFlags);

DType batch_norm_stat_dtype(DType x_dtype) { return x_dtype == DType::Float64 ? DType::Float64 : DType::Float32; }

namespace {

// A [C] parameter or buffer must be 1-d with C elements, floating, on x's device.
void check_channel_tensor(const Tensor& t, const char* what, const Tensor& x) {
  if (!t.defined()) return;
  const int64_t channels = x.size(1);
  FF_CHECK(t.dim() == 1 && t.size(0) == channels,
           "batch_norm: {} must have shape [{}] (one value per channel of input {}), got {}", what, channels,
           x.describe(), t.describe());
  FF_CHECK(is_floating(t.dtype()), "batch_norm: {} must be floating point, got {}", what, t.describe());
  FF_CHECK(t.device() == x.device(), "batch_norm: {} {} is not on the input's device ({})", what, t.describe(),
           x.device().str());
}

// The kernel-facing copy of a [C] tensor: contiguous, in the stat dtype, no autograd.
Tensor as_stat(const Tensor& t, DType stat) {
  if (!t.defined()) return t;
  Tensor d = t.detach();
  if (d.dtype() == stat && d.is_contiguous()) return d;
  Tensor staged = Tensor::empty(d.sizes(), stat, d.device());
  copy_into(staged, d);
  return staged;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  graph::OpTrace trace("batch_norm");
  check_defined(x, "batch_norm", "x");
  FF_CHECK(x.dim() >= 2, "batch_norm: input must be [N, C] or [N, C, *] (channels in dim 1), got {}",
           x.describe());
  FF_CHECK(is_floating(x.dtype()), "batch_norm: input must be floating point, got {}", x.describe());
  check_channel_tensor(weight, "weight", x);
  check_channel_tensor(bias, "bias", x);
  check_channel_tensor(running_mean, "running_mean", x);
  check_channel_tensor(running_var, "running_var", x);
  FF_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm: running_mean and running_var must be given together (got {} and {})",
           running_mean.describe(), running_var.describe());
  for (const Tensor* buf : {&running_mean, &running_var}) {
    FF_CHECK(!buf->defined() || !buf->requires_grad(),
             "batch_norm: running statistics are buffers and must not require grad, got {}", buf->describe());
  }
  FF_CHECK(training || running_mean.defined(),
           "batch_norm: eval mode (training=false) normalises with running_mean and running_var, which were not "
           "given (input {})",
           x.describe());
  FF_CHECK(std::isfinite(eps) && eps >= 0.0, "batch_norm: eps must be finite and >= 0, got {}", eps);
  FF_CHECK(std::isfinite(momentum) && momentum >= 0.0 && momentum <= 1.0,
           "batch_norm: momentum must lie in [0, 1], got {}", momentum);
  const int64_t channels = x.size(1);
  const int64_t values_per_channel = channels == 0 ? 0 : x.numel() / channels;
  // One value per channel has zero variance: the output would be all `bias`, the gradient 0.
  FF_CHECK(!training || values_per_channel > 1,
           "batch_norm: expected more than 1 value per channel when training, got input {} ({} value(s) per "
           "channel)",
           x.describe(), values_per_channel);

  const DType stat = batch_norm_stat_dtype(x.dtype());
  const Tensor x_data = x.detach().contiguous();
  const Tensor w_data = as_stat(weight, stat);
  const Tensor b_data = as_stat(bias, stat);
  // Running stats are updated in place by the kernel; foreign dtypes/layouts go through a
  // staging copy that is written back afterwards.
  const Tensor rm_data = as_stat(running_mean, stat);
  const Tensor rv_data = as_stat(running_var, stat);

  Tensor out = Tensor::empty(x.sizes(), x.dtype(), x.device());
  Tensor save_mean = Tensor::empty({channels}, stat, x.device());
  Tensor save_invstd = Tensor::empty({channels}, stat, x.device());
  static const dispatch::OpHandle op("batch_norm");
  op.kernel<BatchNormKernel>(x.device().type, x.dtype())(out, save_mean, save_invstd, x_data, w_data, b_data,
                                                         rm_data, rv_data, training, momentum, eps);
  if (training && running_mean.defined()) {
    autograd::NoGradGuard no_grad;
    for (const auto& [buf, staged] : {std::pair{running_mean, rm_data}, std::pair{running_var, rv_data}}) {
      if (staged.storage() != buf.storage()) copy_into(buf, staged);  // written to a staging copy
      buf.storage()->bump_version();  // anything saved from the old statistics is now stale
    }
  }

  autograd::record(
      "batch_norm", {x, weight, bias}, {out}, {x_data, w_data, save_mean, save_invstd},
      [training, stat](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
        const Tensor& xs = ctx.saved(0);
        const Tensor& ws = ctx.saved(1);
        const Tensor& mean = ctx.saved(2);
        const Tensor& invstd = ctx.saved(3);
        Tensor g = ctx.grad_outputs[0];
        if (g.dtype() != xs.dtype()) g = g.to(xs.dtype());
        g = g.contiguous();
        const Shape channel_shape{xs.size(1)};
        // Gradients come back in the stat dtype; the engine converts them to each input's dtype.
        const Tensor grad_x = ctx.needs_input_grad(0) ? Tensor::empty(xs.sizes(), xs.dtype(), xs.device()) : Tensor();
        const Tensor grad_w = ctx.needs_input_grad(1) ? Tensor::empty(channel_shape, stat, xs.device()) : Tensor();
        const Tensor grad_b = ctx.needs_input_grad(2) ? Tensor::empty(channel_shape, stat, xs.device()) : Tensor();
        static const dispatch::OpHandle backward_op("batch_norm_backward");
        backward_op.kernel<BatchNormBackwardKernel>(xs.device().type, xs.dtype())(grad_x, grad_w, grad_b, g, xs, ws,
                                                                                  mean, invstd, training);
        return {grad_x, grad_w, grad_b};
      });
  if (trace.recording()) {
    trace.record({x, weight, bias, running_mean, running_var}, {out},
                 {{"training", int64_t{training}}, {"momentum", momentum}, {"eps", eps}});
  }
  return out;
}

// ---- CPU kernels --------------------------------------------------------------------------------------
namespace {

// Per-channel statistics and parameters: float for float/half/bfloat16 inputs, double for double.
template <typename T>
using stat_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// x viewed as [N, C, S]: channel c's values are x[(n * C + c) * S + s].
struct ChannelLayout {
  int64_t batch = 0, channels = 0, spatial = 1;
  int64_t count() const { return batch * spatial; }  // values per channel
  int64_t offset(int64_t n, int64_t c) const { return (n * channels + c) * spatial; }
};

ChannelLayout channel_layout(const Tensor& x) {
  ChannelLayout l;
  l.batch = x.size(0);
  l.channels = x.size(1);
  for (int64_t d = 2; d < x.dim(); ++d) l.spatial *= x.size(d);
  return l;
}

// Row kernels over one (n, c) plane of `len` contiguous values. __restrict and kLanes
// independent double partial sums let the compiler vectorise them: one running double sum is a
// serial chain of dependent adds, and without __restrict the stores were not vectorised either
// (batch_norm eval was 5x slower than an add of the same size). The lanes are combined in a
// fixed order, so results still do not depend on the thread count.
constexpr int kLanes = 8;

template <typename T, typename S>
double row_sum(const T* __restrict row, int64_t len) {
  double lanes[kLanes] = {};
  int64_t s = 0;
  for (; s + kLanes <= len; s += kLanes) {
    for (int k = 0; k < kLanes; ++k) lanes[k] += static_cast<double>(static_cast<S>(row[s + k]));
  }
  double total = 0.0;
  for (; s < len; ++s) total += static_cast<double>(static_cast<S>(row[s]));
  for (int k = 0; k < kLanes; ++k) total += lanes[k];
  return total;
}

template <typename T, typename S>
double row_squared_deviations(const T* __restrict row, int64_t len, double mean) {
  double lanes[kLanes] = {};
  int64_t s = 0;
  for (; s + kLanes <= len; s += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const double d = static_cast<double>(static_cast<S>(row[s + k])) - mean;
      lanes[k] += d * d;
    }
  }
  double total = 0.0;
  for (; s < len; ++s) {
    const double d = static_cast<double>(static_cast<S>(row[s])) - mean;
    total += d * d;
  }
  for (int k = 0; k < kLanes; ++k) total += lanes[k];
  return total;
}

// Adds sum(dy) and sum(dy * (x - mean)) over the row to the two accumulators.
template <typename T, typename S>
void row_grad_sums(const T* __restrict x, const T* __restrict dy, int64_t len, double mean, double& sum_dy,
                   double& sum_dy_xc) {
  double lanes_dy[kLanes] = {}, lanes_dy_xc[kLanes] = {};
  int64_t s = 0;
  for (; s + kLanes <= len; s += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const double g = static_cast<double>(static_cast<S>(dy[s + k]));
      lanes_dy[k] += g;
      lanes_dy_xc[k] += g * (static_cast<double>(static_cast<S>(x[s + k])) - mean);
    }
  }
  for (; s < len; ++s) {
    const double g = static_cast<double>(static_cast<S>(dy[s]));
    sum_dy += g;
    sum_dy_xc += g * (static_cast<double>(static_cast<S>(x[s])) - mean);
  }
  for (int k = 0; k < kLanes; ++k) {
    sum_dy += lanes_dy[k];
    sum_dy_xc += lanes_dy_xc[k];
  }
}

// out = (x - m) * scale + shift
template <typename T, typename S>
void row_affine(const T* __restrict in, T* __restrict out, int64_t len, S m, S scale, S shift) {
  for (int64_t s = 0; s < len; ++s) out[s] = static_cast<T>((static_cast<S>(in[s]) - m) * scale + shift);
}

// grad_x = k * (dy - mean_dy - (x - m) * invstd * mean_dy_xhat)
template <typename T, typename S>
void row_grad_x(const T* __restrict x, const T* __restrict dy, T* __restrict gx, int64_t len, S k, S m, S invstd,
                S mean_dy, S mean_dy_xhat) {
  for (int64_t s = 0; s < len; ++s) {
    const S xhat = (static_cast<S>(x[s]) - m) * invstd;
    gx[s] = static_cast<T>(k * (static_cast<S>(dy[s]) - mean_dy - xhat * mean_dy_xhat));
  }
}

// Channels per thread chunk: about kParallelGrain values each.
int64_t channel_grain(const ChannelLayout& l) { return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, l.count())); }

template <typename T>
void batch_norm_cpu_typed(const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& x,
                          const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                          const Tensor& running_var, bool training, double momentum, double eps) {
  using S = stat_t<T>;
  const ChannelLayout l = channel_layout(x);
  const T* xp = x.data<T>();
  T* op = out.data<T>();
  const S* wp = weight.defined() ? weight.data<S>() : nullptr;
  const S* bp = bias.defined() ? bias.data<S>() : nullptr;
  S* rmp = running_mean.defined() ? running_mean.data<S>() : nullptr;
  S* rvp = running_var.defined() ? running_var.data<S>() : nullptr;
  S* meanp = save_mean.data<S>();
  S* invstdp = save_invstd.data<S>();
  const int64_t count = l.count();

  parallel_for(0, l.channels, channel_grain(l), [&](int64_t c_begin, int64_t c_end) {
    for (int64_t c = c_begin; c < c_end; ++c) {
      double mean, invstd;
      if (training) {
        // Two passes in double: the mean first, then squared deviations from it, which avoids the
        // cancellation of E[x^2] - E[x]^2 when |mean| >> std.
        double total = 0.0;
        for (int64_t n = 0; n < l.batch; ++n) total += row_sum<T, S>(xp + l.offset(n, c), l.spatial);
        mean = total / static_cast<double>(count);
        double squares = 0.0;
        for (int64_t n = 0; n < l.batch; ++n) {
          squares += row_squared_deviations<T, S>(xp + l.offset(n, c), l.spatial, mean);
        }
        const double biased_var = squares / static_cast<double>(count);
        invstd = 1.0 / std::sqrt(biased_var + eps);
        if (rmp) {
          const double unbiased_var = squares / static_cast<double>(count - 1);
          rmp[c] = static_cast<S>((1.0 - momentum) * static_cast<double>(rmp[c]) + momentum * mean);
          rvp[c] = static_cast<S>((1.0 - momentum) * static_cast<double>(rvp[c]) + momentum * unbiased_var);
        }
      } else {
        mean = static_cast<double>(rmp[c]);
        invstd = 1.0 / std::sqrt(static_cast<double>(rvp[c]) + eps);
      }
      meanp[c] = static_cast<S>(mean);
      invstdp[c] = static_cast<S>(invstd);
      // out = (x - mean) * (w * invstd) + b, in the stat type.
      const S m = static_cast<S>(mean);
      const S scale = static_cast<S>((wp ? static_cast<double>(wp[c]) : 1.0) * invstd);
      const S shift = bp ? bp[c] : S(0);
      for (int64_t n = 0; n < l.batch; ++n) {
        row_affine<T, S>(xp + l.offset(n, c), op + l.offset(n, c), l.spatial, m, scale, shift);
      }
    }
  });
}

// With xhat = (x - mean) * invstd and M values per channel:
//   grad_bias   = sum(dy)
//   grad_weight = sum(dy * xhat)
//   grad_x      = w * invstd * (dy - sum(dy) / M - xhat * sum(dy * xhat) / M)   (training)
//   grad_x      = w * invstd * dy                                               (eval: stats are constants)
template <typename T>
void batch_norm_backward_cpu_typed(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                                   const Tensor& grad_out, const Tensor& x, const Tensor& weight,
                                   const Tensor& save_mean, const Tensor& save_invstd, bool training) {
  using S = stat_t<T>;
  const ChannelLayout l = channel_layout(x);
  const T* xp = x.data<T>();
  const T* gp = grad_out.data<T>();
  T* gxp = grad_x.defined() ? grad_x.data<T>() : nullptr;
  S* gwp = grad_weight.defined() ? grad_weight.data<S>() : nullptr;
  S* gbp = grad_bias.defined() ? grad_bias.data<S>() : nullptr;
  const S* wp = weight.defined() ? weight.data<S>() : nullptr;
  const S* meanp = save_mean.data<S>();
  const S* invstdp = save_invstd.data<S>();
  const bool need_sums = gwp || gbp || (gxp && training);
  const double inv_count = l.count() > 0 ? 1.0 / static_cast<double>(l.count()) : 0.0;

  parallel_for(0, l.channels, channel_grain(l), [&](int64_t c_begin, int64_t c_end) {
    for (int64_t c = c_begin; c < c_end; ++c) {
      const double mean = static_cast<double>(meanp[c]);
      const double invstd = static_cast<double>(invstdp[c]);
      double sum_dy = 0.0, sum_dy_xc = 0.0;
      if (need_sums) {
        for (int64_t n = 0; n < l.batch; ++n) {
          row_grad_sums<T, S>(xp + l.offset(n, c), gp + l.offset(n, c), l.spatial, mean, sum_dy, sum_dy_xc);
        }
      }
      const double sum_dy_xhat = sum_dy_xc * invstd;
      if (gwp) gwp[c] = static_cast<S>(sum_dy_xhat);
      if (gbp) gbp[c] = static_cast<S>(sum_dy);
      if (!gxp) continue;
      const S k = static_cast<S>((wp ? static_cast<double>(wp[c]) : 1.0) * invstd);
      const S mean_dy = static_cast<S>(training ? sum_dy * inv_count : 0.0);
      const S mean_dy_xhat = static_cast<S>(training ? sum_dy_xhat * inv_count : 0.0);
      const S m = static_cast<S>(mean), is = static_cast<S>(invstd);
      for (int64_t n = 0; n < l.batch; ++n) {
        row_grad_x<T, S>(xp + l.offset(n, c), gp + l.offset(n, c), gxp + l.offset(n, c), l.spatial, k, m, is, mean_dy,
                         mean_dy_xhat);
      }
    }
  });
}

void batch_norm_cpu(const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& x,
                    const Tensor& weight, const Tensor& bias, const Tensor& running_mean, const Tensor& running_var,
                    bool training, double momentum, double eps) {
  FF_DISPATCH_FLOATING(x.dtype(), "batch_norm", [&] {
    batch_norm_cpu_typed<scalar_t>(out, save_mean, save_invstd, x, weight, bias, running_mean, running_var, training,
                                   momentum, eps);
  });
}

void batch_norm_backward_cpu(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                             const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& save_mean,
                             const Tensor& save_invstd, bool training) {
  FF_DISPATCH_FLOATING(x.dtype(), "batch_norm_backward", [&] {
    batch_norm_backward_cpu_typed<scalar_t>(grad_x, grad_weight, grad_bias, grad_out, x, weight, save_mean,
                                            save_invstd, training);
  });
}

}  // namespace

FF_REGISTER_KERNEL(batch_norm, CPU, dispatch::kFloatingTypes, &batch_norm_cpu);
FF_REGISTER_KERNEL(batch_norm_backward, CPU, dispatch::kFloatingTypes, &batch_norm_backward_cpu);

}  // namespace ff
