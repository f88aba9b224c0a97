// conv2d: validation, forward and backward side by side. The CPU kernels (im2col + GEMM, and a
// direct loop for depthwise / narrow grouped convs) live in conv2d_cpu.cpp.
#include "ops/conv/conv2d.h"

#include "framework/autograd/autograd.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"
#include "ops/reduce/reduce.h"

namespace ff {

FF_REGISTER_OP(conv2d, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(conv2d_backward_input, dispatch::kNoFlags);
FF_REGISTER_OP(conv2d_backward_weight, dispatch::kNoFlags);

namespace {

std::string params_str(const Conv2dParams& p) {
  return fmt::format("stride [{}, {}], padding [{}, {}], dilation [{}, {}], groups {}", p.stride[0], p.stride[1],
                     p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.groups);
}

}  // namespace

Shape conv2d_output_shape(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  check_defined(x, "conv2d", "x");
  check_defined(weight, "conv2d", "weight");
  check_same_device({x, weight, bias}, "conv2d");
  FF_CHECK(x.dim() == 4, "conv2d: input must be [N, C_in, H, W], got {}", x.describe());
  FF_CHECK(weight.dim() == 4, "conv2d: weight must be [C_out, C_in / groups, kH, kW], got {}", weight.describe());
  FF_CHECK(is_floating(x.dtype()) && x.dtype() == weight.dtype(),
           "conv2d: input {} and weight {} must share one floating dtype", x.describe(), weight.describe());
  for (int i = 0; i < 2; ++i) {
    FF_CHECK(p.stride[i] >= 1 && p.dilation[i] >= 1 && p.padding[i] >= 0,
             "conv2d: stride and dilation must be >= 1 and padding >= 0, got {}", params_str(p));
  }
  FF_CHECK(p.groups >= 1, "conv2d: groups must be >= 1, got {}", p.groups);
  const int64_t c_in = x.size(1), c_out = weight.size(0);
  FF_CHECK(c_in % p.groups == 0 && c_out % p.groups == 0,
           "conv2d: input channels ({}) and output channels ({}) must both be divisible by groups ({}); input {}, "
           "weight {}",
           c_in, c_out, p.groups, x.describe(), weight.describe());
  FF_CHECK(weight.size(1) == c_in / p.groups,
           "conv2d: weight {} has {} input channels per group, but input {} with groups {} needs {}",
           weight.describe(), weight.size(1), x.describe(), p.groups, c_in / p.groups);
  FF_CHECK(weight.size(2) >= 1 && weight.size(3) >= 1, "conv2d: empty kernel in weight {}", weight.describe());
  if (bias.defined()) {
    FF_CHECK(bias.dtype() == x.dtype(), "conv2d: bias {} must have the input's dtype ({})", bias.describe(),
             dtype_name(x.dtype()));
    FF_CHECK(bias.dim() == 1 && bias.size(0) == c_out, "conv2d: bias {} must be [{}] to match weight {}",
             bias.describe(), c_out, weight.describe());
  }
  Shape out{x.size(0), c_out, 0, 0};
  for (int i = 0; i < 2; ++i) {
    const int64_t padded = x.size(2 + i) + 2 * p.padding[i];
    const int64_t extent = p.dilation[i] * (weight.size(2 + i) - 1) + 1;  // kernel span with dilation
    FF_CHECK(extent <= padded,
             "conv2d: kernel {} (dilated extent {}) is larger than the padded input ({}) in dim {}: input {}, weight "
             "{}, {}",
             shape_str({weight.size(2), weight.size(3)}), extent, padded, 2 + i, x.describe(), weight.describe(),
             params_str(p));
    out[2 + i] = (padded - extent) / p.stride[i] + 1;
  }
  return out;
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  graph::OpTrace trace("conv2d");
  const Shape out_shape = conv2d_output_shape(x, weight, bias, p);
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  const Tensor xc = x.detach().contiguous(), wc = weight.detach().contiguous();
  const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  static const dispatch::OpHandle fwd("conv2d");
  fwd.kernel<Conv2dKernel>(x.device().type, x.dtype())(out, xc, wc, bc, p);

  // Backward: grad_x is the transposed convolution of g with the weight, grad_w the correlation
  // of g with x, grad_bias the sum of g over everything but channels.
  autograd::record("conv2d", {x, weight, bias}, {out}, {xc, wc},
                   [p](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     const Tensor g = ctx.grad_outputs[0].contiguous();
                     const Tensor& xs = ctx.saved(0);
                     const Tensor& ws = ctx.saved(1);
                     Tensor gx, gw, gb;
                     if (ctx.needs_input_grad(0)) {
                       static const dispatch::OpHandle op("conv2d_backward_input");
                       gx = Tensor::empty(xs.sizes(), xs.dtype(), xs.device());
                       op.kernel<Conv2dBackwardInputKernel>(g.device().type, g.dtype())(gx, g, ws, p);
                     }
                     if (ctx.needs_input_grad(1)) {
                       static const dispatch::OpHandle op("conv2d_backward_weight");
                       gw = Tensor::empty(ws.sizes(), ws.dtype(), ws.device());
                       op.kernel<Conv2dBackwardWeightKernel>(g.device().type, g.dtype())(gw, g, xs, p);
                     }
                     if (ctx.needs_input_grad(2)) gb = sum(g, {0, 2, 3});
                     return {gx, gw, gb};
                   });
  if (trace.recording()) {
    trace.record({x, weight, bias}, {out},
                 {{"stride", graph::pair_ints(p.stride)}, {"padding", graph::pair_ints(p.padding)},
                  {"dilation", graph::pair_ints(p.dilation)}, {"groups", p.groups}});
  }
  return out;
}

}  // namespace ff
