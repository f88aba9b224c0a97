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

}  // namespace ff
