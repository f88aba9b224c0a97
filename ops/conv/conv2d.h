// 2-D convolution (cross-correlation, like PyTorch), NCHW.
#pragma once

#include <array>

#include "framework/core/tensor.h"

namespace ff {

struct Conv2dParams {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};   // zero padding on both sides
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;                     // groups == C_in == C_out: depthwise
};

// x [N, C_in, H, W], weight [C_out, C_in / groups, kH, kW], bias [C_out] or undefined
// -> [N, C_out, H_out, W_out], H_out = (H + 2 pH - dH (kH - 1) - 1) / sH + 1.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Conv2dParams& p = {});

// Output shape of conv2d for these operands, after the same validation conv2d does (throws
// ff::Error naming the op, the shapes and the parameters at fault).
Shape conv2d_output_shape(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p);

// ---- kernels ----------------------------------------------------------------------------------------
// Registered per device and dtype under the names "conv2d", "conv2d_backward_input" and
// "conv2d_backward_weight" (a cuDNN backend registers the same three). Every tensor argument is
// contiguous, of one dtype and device, and already validated by conv2d(); outputs are
// overwritten, never accumulated into.

// out [N, C_out, H_out, W_out] = conv(x [N, C_in, H, W], weight) + bias (bias may be undefined).
using Conv2dKernel = void (*)(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias,
                              const Conv2dParams& p);
// grad_x [N, C_in, H, W] from grad_out [N, C_out, H_out, W_out] and weight.
using Conv2dBackwardInputKernel = void (*)(const Tensor& grad_x, const Tensor& grad_out, const Tensor& weight,
                                           const Conv2dParams& p);
// grad_weight [C_out, C_in / groups, kH, kW] from grad_out and x. (The bias gradient is a plain
// sum of grad_out over N, H_out and W_out.)
using Conv2dBackwardWeightKernel = void (*)(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& x,
                                            const Conv2dParams& p);

}  // namespace ff
