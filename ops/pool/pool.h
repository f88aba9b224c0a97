// 2-D pooling, NCHW.
#pragma once

#include <array>

#include "framework/core/tensor.h"

namespace ff {

struct Pool2dParams {
  std::array<int64_t, 2> kernel{2, 2};
  std::array<int64_t, 2> stride{0, 0};   // 0 means "same as kernel"
  std::array<int64_t, 2> padding{0, 0};  // max: -inf padding; avg: see count_include_pad
  bool ceil_mode = false;
};

// x [N, C, H, W] -> [N, C, H_out, W_out]. Max gradient goes to the first maximum in each window.
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p, bool count_include_pad = true);
// x [N, C, H, W] -> [N, C, 1, 1], the mean over H and W.
Tensor global_avg_pool2d(const Tensor& x);

// Output size along one dim, as PyTorch computes it:
//   out = floor_or_ceil((in + 2 pad - kernel) / stride) + 1, and with ceil_mode the last window
//   is dropped when it would start inside the right padding (it must overlap the input).
// Requires kernel >= 1, stride >= 1, 0 <= pad <= kernel / 2; may return <= 0 for tiny inputs.
int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, bool ceil_mode);

// ---- kernels ----------------------------------------------------------------------------------------
// Every tensor is contiguous; p.stride is resolved (never 0). Outputs are overwritten.
// Windows are clipped to the input; padding only enters through the avg divisor:
// count_include_pad divides by the window clipped to the padded input, otherwise by the number
// of input elements in the window.

// out [N, C, Ho, Wo]; indices int64 [N, C, Ho, Wo]: h * W + w of the (first) maximum in x's plane.
using MaxPool2dKernel = void (*)(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dParams& p);
// grad_x [N, C, H, W] = scatter-add of grad_out at indices.
using MaxPool2dBackwardKernel = void (*)(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices,
                                         const Pool2dParams& p);
using AvgPool2dKernel = void (*)(const Tensor& out, const Tensor& x, const Pool2dParams& p, bool count_include_pad);
using AvgPool2dBackwardKernel = void (*)(const Tensor& grad_x, const Tensor& grad_out, const Pool2dParams& p,
                                         bool count_include_pad);
// out [N, C, 1, 1] = mean of x [N, C, H, W] over H, W; backward spreads grad_out / (H W).
using GlobalAvgPool2dKernel = void (*)(const Tensor& out, const Tensor& x);
using GlobalAvgPool2dBackwardKernel = void (*)(const Tensor& grad_x, const Tensor& grad_out);

}  // namespace ff
