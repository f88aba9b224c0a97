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

}  // namespace ff
