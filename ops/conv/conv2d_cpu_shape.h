// Internal to the CPU conv2d kernels (conv2d_cpu.cpp, conv2d_cpu_direct.cpp): the geometry of
// one call, computed once.
//
//   x [n, c_in, h, w], weight [c_out, c_in / groups, kh, kw], out [n, c_out, h_out, w_out]
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "framework/common/check.h"
#include "framework/core/parallel.h"
#include "ops/conv/conv2d.h"

namespace ff::conv_cpu {

// Grouped convs with at most this many input channels per group (depthwise: 1) take the direct
// loops; per-group GEMMs would be tiny (M = 1..4, K = 9..36).
constexpr int64_t kDirectMaxChannelsPerGroup = 4;

// Output positions o in [lo, hi) whose input position o * stride + offset lies in [0, size).
struct Range {
  int64_t lo, hi;
};
inline Range valid_outputs(int64_t offset, int64_t stride, int64_t size, int64_t out_size) {
  const int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t last = size - 1 - offset;  // largest o * stride allowed
  const int64_t hi = last < 0 ? 0 : std::min(out_size, last / stride + 1);
  return {std::min(lo, out_size), std::max(hi, std::min(lo, out_size))};
}

struct ConvShape {
  int64_t n, c_in, h, w;
  int64_t c_out, kh, kw;
  int64_t h_out, w_out;
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t groups, cin_g, cout_g;
  int64_t k_g;     // rows of one group's column matrix: cin_g * kh * kw
  int64_t hw_out;  // h_out * w_out
  int64_t hw_in;   // h * w
  // Valid output rows for kernel row i and columns for kernel column j, computed once per call:
  // the loops below visit every (plane, tap) pair and would otherwise divide each time.
  std::vector<Range> rows, cols;

  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  bool direct() const { return groups > 1 && cin_g <= kDirectMaxChannelsPerGroup; }
};

inline ConvShape conv_shape(const Shape& x, const Shape& w, const Shape& out, const Conv2dParams& p) {
  ConvShape s;
  s.n = x[0], s.c_in = x[1], s.h = x[2], s.w = x[3];
  s.c_out = w[0], s.kh = w[2], s.kw = w[3];
  s.h_out = out[2], s.w_out = out[3];
  s.sh = p.stride[0], s.sw = p.stride[1], s.ph = p.padding[0], s.pw = p.padding[1];
  s.dh = p.dilation[0], s.dw = p.dilation[1];
  s.groups = p.groups, s.cin_g = s.c_in / p.groups, s.cout_g = s.c_out / p.groups;
  s.k_g = s.cin_g * s.kh * s.kw;
  s.hw_out = s.h_out * s.w_out;
  s.hw_in = s.h * s.w;
  for (int64_t i = 0; i < s.kh; ++i) s.rows.push_back(valid_outputs(i * s.dh - s.ph, s.sh, s.h, s.h_out));
  for (int64_t j = 0; j < s.kw; ++j) s.cols.push_back(valid_outputs(j * s.dw - s.pw, s.sw, s.w, s.w_out));
  FF_ASSERT(w[1] == s.cin_g && out[0] == s.n && out[1] == s.c_out, "conv2d kernel: inconsistent shapes {} {} {}",
            shape_str(x), shape_str(w), shape_str(out));
  return s;
}

// Planes per parallel_for grain for a per-plane cost of `work_per_plane`.
inline int64_t plane_grain(int64_t work_per_plane) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(work_per_plane, 1));
}

}  // namespace ff::conv_cpu
