// Direct conv2d loops for depthwise / narrow grouped convs (declared in conv2d_cpu_direct.h).
//
// The fast path works on *phase planes*: an input plane copied once into a zero-padded buffer
// whose columns are split by stride phase, so that every tap (i, j) of every output row reads a
// contiguous, in-bounds run: output (oh, ow) of tap (i, j) reads phase (j*dw) % sw, row
// oh*sh + i*dh, column ow + (j*dw) / sw. No bounds checks or strided gathers remain in the inner
// loops, and the padding costs one copy per plane instead of a branch per tap.
//   * forward: each block of kBlock outputs of a row is summed over all taps in registers and
//     stored once (the older tap-by-tap form loaded and stored every output once per tap);
//   * backward to the input, stride 1: the forward loop on grad_out with the kernel flipped and
//     transposed (padding dilation * (k - 1) - padding); other strides scatter tap by tap into a
//     phase-plane accumulator (contiguous there too), de-interleaved into grad_x once;
//   * backward to the weight: per tap a contiguous dot product of grad_out with the phase plane,
//     summed per sample in T and over the batch in double;
//   * outputs smaller than the kernel (the 7x7 GDC has a 1x1 output): output-stationary loops,
//     where padding the row to a block would waste most of the work.
// Threads split (sample, group) planes for the forward / backward-to-input and (output channel,
// input channel) filter slices for the weight gradient, so every output has one writer.
#include "ops/conv/conv2d_cpu_direct.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace ff::conv_cpu {
namespace {

// Outputs per register block (one cache line: 16 floats, 8 doubles); rows are padded up to it.
template <typename T>
constexpr int64_t kBlock = 64 / static_cast<int64_t>(sizeof(T));

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// One input plane, zero-padded and split by column phase (see the top of the file). Sized for
// outputs [out_rows, out_cols] (out_cols a multiple of the block) read through a kernel of
// (kh, kw) with the given stride, dilation and padding.
template <typename T>
class PhasePlane {
 public:
  PhasePlane(int64_t in_rows, int64_t in_cols, int64_t out_rows, int64_t out_cols, int64_t kh, int64_t kw,
             int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t ph, int64_t pw)
      : in_rows_(in_rows), in_cols_(in_cols), sw_(sw), ph_(ph), pw_(pw) {
    rows_ = (out_rows - 1) * sh + (kh - 1) * dh + 1;
    cols_ = out_cols + (kw - 1) * dw / sw;
    data_.assign(static_cast<size_t>(sw_ * rows_ * cols_), T(0));
    // Phase p, column c holds input column p + sw*c - pw: valid for c in [c_lo, c_hi).
    for (int64_t p = 0; p < sw_; ++p) {
      const int64_t lo = std::max<int64_t>(0, (pw_ - p + sw_ - 1) / sw_);
      const int64_t hi = std::min(cols_, in_cols_ - 1 + pw_ - p < 0 ? 0 : (in_cols_ - 1 + pw_ - p) / sw_ + 1);
      valid_.push_back({lo, std::max(lo, hi)});
    }
  }

  // Copies `plane` [in_rows, in_cols] in; the zero border set up by the constructor stays.
  void fill(const T* plane) {
    for (int64_t r = 0; r < rows_; ++r) {
      const int64_t y = r - ph_;
      if (y < 0 || y >= in_rows_) continue;
      const T* src = plane + y * in_cols_;
      for (int64_t p = 0; p < sw_; ++p) {
        T* dst = mutable_row(p, r);
        const Range v = valid_[static_cast<size_t>(p)];
        if (sw_ == 1) {
          std::memcpy(dst + v.lo, src + v.lo - pw_, static_cast<size_t>(v.hi - v.lo) * sizeof(T));
        } else {
          for (int64_t c = v.lo; c < v.hi; ++c) dst[c] = src[p + sw_ * c - pw_];
        }
      }
    }
  }

  // The adjoint use, for gradients: zero everything, accumulate into rows, then extract() writes
  // the positions that are real input pixels back to `plane` (the padding is dropped).
  void clear() { std::fill(data_.begin(), data_.end(), T(0)); }
  void extract(T* plane) const {
    for (int64_t r = 0; r < rows_; ++r) {
      const int64_t y = r - ph_;
      if (y < 0 || y >= in_rows_) continue;
      T* dst = plane + y * in_cols_;
      for (int64_t p = 0; p < sw_; ++p) {
        const T* src = row(p, r);
        const Range v = valid_[static_cast<size_t>(p)];
        for (int64_t c = v.lo; c < v.hi; ++c) dst[p + sw_ * c - pw_] = src[c];
      }
    }
  }

  const T* row(int64_t phase, int64_t r) const { return data_.data() + (phase * rows_ + r) * cols_; }
  T* mutable_row(int64_t phase, int64_t r) { return data_.data() + (phase * rows_ + r) * cols_; }
  int64_t row_stride() const { return cols_; }

 private:

  int64_t in_rows_, in_cols_, sw_, ph_, pw_;
  int64_t rows_ = 0, cols_ = 0;
  std::vector<Range> valid_;
  std::vector<T> data_;
};

template <typename T>
PhasePlane<T> input_plane(const ConvShape& s, int64_t out_cols) {
  return PhasePlane<T>(s.h, s.w, s.h_out, out_cols, s.kh, s.kw, s.sh, s.sw, s.dh, s.dw, s.ph, s.pw);
}

// ---- forward -------------------------------------------------------------------------------------------
template <typename T>
void forward_phase_planes(T* out, const T* x, const T* w, const T* bias, const ConvShape& s) {
  constexpr int64_t B = kBlock<T>;
  const int64_t padded_cols = round_up(s.w_out, B);
  const int64_t taps = s.k_g;  // cin_g * kh * kw
  parallel_for(0, s.n * s.groups, plane_grain(s.hw_out * s.k_g * s.cout_g), [&](int64_t begin, int64_t end) {
    std::vector<PhasePlane<T>> planes;
    for (int64_t ci = 0; ci < s.cin_g; ++ci) planes.push_back(input_plane<T>(s, padded_cols));
    // Where each tap (ci, i, j) reads output row 0, column 0; row oh adds oh * sh rows. Fixed
    // for the call, so the inner loops do no index arithmetic beyond two adds.
    std::vector<const T*> tap_origin(static_cast<size_t>(taps));
    for (int64_t ci = 0; ci < s.cin_g; ++ci) {
      for (int64_t i = 0; i < s.kh; ++i) {
        for (int64_t j = 0; j < s.kw; ++j) {
          tap_origin[(ci * s.kh + i) * s.kw + j] = planes[ci].row((j * s.dw) % s.sw, i * s.dh) + j * s.dw / s.sw;
        }
      }
    }
    const int64_t row_step = s.sh * planes[0].row_stride();
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / s.groups, g = unit % s.groups;
      for (int64_t ci = 0; ci < s.cin_g; ++ci) planes[ci].fill(x + (n * s.c_in + g * s.cin_g + ci) * s.hw_in);
      for (int64_t m = 0; m < s.cout_g; ++m) {
        const int64_t oc = g * s.cout_g + m;
        const T* wo = w + oc * taps;
        T* o = out + (n * s.c_out + oc) * s.hw_out;
        const T b = bias ? bias[oc] : T(0);
        for (int64_t oh = 0; oh < s.h_out; ++oh) {
          const int64_t row_offset = oh * row_step;
          for (int64_t ow0 = 0; ow0 < s.w_out; ow0 += B) {
            T acc[B];
            for (int64_t k = 0; k < B; ++k) acc[k] = b;
            for (int64_t t = 0; t < taps; ++t) {
              const T* src = tap_origin[t] + row_offset + ow0;
              const T wv = wo[t];
              for (int64_t k = 0; k < B; ++k) acc[k] += wv * src[k];
            }
            std::copy(acc, acc + std::min(B, s.w_out - ow0), o + oh * s.w_out + ow0);
          }
        }
      }
    }
  });
}

// Output-stationary form for outputs smaller than the kernel: each output sums its taps in a
// register; a padded block would be mostly waste.
template <typename T>
void forward_tiny_output(T* out, const T* x, const T* w, const T* bias, const ConvShape& s) {
  parallel_for(0, s.n * s.c_out, plane_grain(s.hw_out * s.k_g), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t n = plane / s.c_out, oc = plane % s.c_out, g = oc / s.cout_g;
      const T* xg = x + (n * s.c_in + g * s.cin_g) * s.hw_in;
      const T* wo = w + oc * s.k_g;
      for (int64_t oh = 0; oh < s.h_out; ++oh) {
        for (int64_t ow = 0; ow < s.w_out; ++ow) {
          T acc = bias ? bias[oc] : T(0);
          for (int64_t ci = 0; ci < s.cin_g; ++ci) {
            for (int64_t i = 0; i < s.kh; ++i) {
              if (oh < s.rows[i].lo || oh >= s.rows[i].hi) continue;
              const T* xr = xg + ci * s.hw_in + (oh * s.sh + i * s.dh - s.ph) * s.w + ow * s.sw - s.pw;
              const T* wr = wo + (ci * s.kh + i) * s.kw;
              for (int64_t j = 0; j < s.kw; ++j) {
                if (ow >= s.cols[j].lo && ow < s.cols[j].hi) acc += wr[j] * xr[j * s.dw];
              }
            }
          }
          out[plane * s.hw_out + oh * s.w_out + ow] = acc;
        }
      }
    }
  });
}

// ---- backward to the input -----------------------------------------------------------------------------
// The transposed conv of a stride-1 conv is a stride-1 conv of grad_out: input channel
// g*cin_g + ci collects output channels g*cout_g + m through the kernel flipped in both axes,
// with padding dilation * (k - 1) - padding (>= 0 is required).
bool stride1_transpose_possible(const ConvShape& s) {
  return s.sh == 1 && s.sw == 1 && s.dh * (s.kh - 1) >= s.ph && s.dw * (s.kw - 1) >= s.pw;
}

template <typename T>
void backward_input_stride1(T* grad_x, const T* grad_out, const T* w, const ConvShape& s) {
  ConvShape t;
  t.n = s.n, t.c_in = s.c_out, t.h = s.h_out, t.w = s.w_out;
  t.c_out = s.c_in, t.kh = s.kh, t.kw = s.kw;
  t.h_out = s.h, t.w_out = s.w;
  t.sh = t.sw = 1, t.dh = s.dh, t.dw = s.dw;
  t.ph = s.dh * (s.kh - 1) - s.ph, t.pw = s.dw * (s.kw - 1) - s.pw;
  t.groups = s.groups, t.cin_g = s.cout_g, t.cout_g = s.cin_g;
  t.k_g = t.cin_g * t.kh * t.kw;
  t.hw_out = t.h_out * t.w_out, t.hw_in = t.h * t.w;
  // wt[g*cin_g + ci][m][i][j] = w[g*cout_g + m][ci][kh-1-i][kw-1-j]
  std::vector<T> wt(static_cast<size_t>(s.c_in * s.cout_g * s.kh * s.kw));
  for (int64_t g = 0; g < s.groups; ++g) {
    for (int64_t ci = 0; ci < s.cin_g; ++ci) {
      for (int64_t m = 0; m < s.cout_g; ++m) {
        const T* src = w + ((g * s.cout_g + m) * s.cin_g + ci) * s.kh * s.kw;
        T* dst = wt.data() + ((g * s.cin_g + ci) * s.cout_g + m) * s.kh * s.kw;
        for (int64_t k = 0; k < s.kh * s.kw; ++k) dst[k] = src[s.kh * s.kw - 1 - k];
      }
    }
  }
  forward_phase_planes(grad_x, grad_out, wt.data(), static_cast<const T*>(nullptr), t);
}

// Runs spread(gx, gp, wp) for every input-gradient plane and every output channel of its group:
// gx the plane (zeroed first), gp that channel's grad_out plane, wp the [kh, kw] filter slice
// joining them. Each plane has one writer.
template <typename T, typename Spread>
void for_each_input_gradient_plane(T* grad_x, const T* grad_out, const T* w, const ConvShape& s, Spread&& spread) {
  parallel_for(0, s.n * s.c_in, plane_grain(s.hw_out * s.cout_g * s.kh * s.kw), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t n = plane / s.c_in, c = plane % s.c_in, g = c / s.cin_g, ci = c % s.cin_g;
      T* gx = grad_x + plane * s.hw_in;
      std::fill(gx, gx + s.hw_in, T(0));
      for (int64_t m = 0; m < s.cout_g; ++m) {
        const int64_t oc = g * s.cout_g + m;
        spread(gx, grad_out + (n * s.c_out + oc) * s.hw_out, w + (oc * s.cin_g + ci) * s.kh * s.kw);
      }
    }
  });
}

// Any stride: each tap adds its weighted grad_out rows onto the input positions it read, in
// phase-plane coordinates, where those positions are contiguous for every stride (a stride-2
// scatter straight into the input plane would write every other element); the plane is then
// de-interleaved into grad_x once.
template <typename T>
void backward_input_phase_scatter(T* grad_x, const T* grad_out, const T* w, const ConvShape& s) {
  parallel_for(0, s.n * s.c_in, plane_grain(s.hw_out * s.cout_g * s.kh * s.kw), [&](int64_t begin, int64_t end) {
    PhasePlane<T> acc = input_plane<T>(s, s.w_out);
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t n = plane / s.c_in, c = plane % s.c_in, g = c / s.cin_g, ci = c % s.cin_g;
      acc.clear();
      for (int64_t m = 0; m < s.cout_g; ++m) {
        const int64_t oc = g * s.cout_g + m;
        const T* gp = grad_out + (n * s.c_out + oc) * s.hw_out;
        const T* wp = w + (oc * s.cin_g + ci) * s.kh * s.kw;
        for (int64_t i = 0; i < s.kh; ++i) {
          for (int64_t j = 0; j < s.kw; ++j) {
            const int64_t phase = (j * s.dw) % s.sw, shift = j * s.dw / s.sw;
            const T wv = wp[i * s.kw + j];
            for (int64_t oh = 0; oh < s.h_out; ++oh) {
              T* __restrict dst = acc.mutable_row(phase, oh * s.sh + i * s.dh) + shift;
              const T* __restrict src = gp + oh * s.w_out;
              for (int64_t ow = 0; ow < s.w_out; ++ow) dst[ow] += wv * src[ow];
            }
          }
        }
      }
      // Input pixels no output reads (rows or columns cut off by the output size) get zero.
      T* gx = grad_x + plane * s.hw_in;
      std::fill(gx, gx + s.hw_in, T(0));
      acc.extract(gx);
    }
  });
}

// Outputs smaller than the kernel: each grad_out element spreads over its taps.
template <typename T>
void backward_input_tiny_output(T* grad_x, const T* grad_out, const T* w, const ConvShape& s) {
  for_each_input_gradient_plane(grad_x, grad_out, w, s, [&](T* gx, const T* gp, const T* wp) {
    for (int64_t oh = 0; oh < s.h_out; ++oh) {
      for (int64_t ow = 0; ow < s.w_out; ++ow) {
        const T go = gp[oh * s.w_out + ow];
        for (int64_t i = 0; i < s.kh; ++i) {
          if (oh < s.rows[i].lo || oh >= s.rows[i].hi) continue;
          T* xr = gx + (oh * s.sh + i * s.dh - s.ph) * s.w + ow * s.sw - s.pw;
          for (int64_t j = 0; j < s.kw; ++j) {
            if (ow >= s.cols[j].lo && ow < s.cols[j].hi) xr[j * s.dw] += wp[i * s.kw + j] * go;
          }
        }
      }
    }
  });
}

bool tiny_output(const ConvShape& s) { return s.hw_out < s.kh * s.kw; }

}  // namespace

template <typename T>
void direct_forward(T* out, const T* x, const T* w, const T* bias, const ConvShape& s) {
  if (tiny_output(s)) return forward_tiny_output(out, x, w, bias, s);
  forward_phase_planes(out, x, w, bias, s);
}

template <typename T>
void direct_backward_input(T* grad_x, const T* grad_out, const T* w, const ConvShape& s) {
  if (tiny_output(s)) return backward_input_tiny_output(grad_x, grad_out, w, s);
  if (stride1_transpose_possible(s)) return backward_input_stride1(grad_x, grad_out, w, s);
  backward_input_phase_scatter(grad_x, grad_out, w, s);
}

template <typename T>
void direct_backward_weight(T* grad_w, const T* grad_out, const T* x, const ConvShape& s) {
  const int64_t taps = s.kh * s.kw;
  // Rows padded to a multiple of 8 so the dot products vectorise without a remainder loop; the
  // padding columns of grad_out are zero.
  const int64_t padded_cols = round_up(s.w_out, 8);
  // One unit per (oc, ci) filter slice: each thread owns its weights, summing over the batch.
  parallel_for(0, s.c_out * s.cin_g, plane_grain(s.n * s.hw_out * taps), [&](int64_t begin, int64_t end) {
    PhasePlane<T> plane = input_plane<T>(s, padded_cols);
    std::vector<T> go(static_cast<size_t>(s.h_out * padded_cols), T(0));
    std::vector<double> acc(static_cast<size_t>(taps));
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t oc = unit / s.cin_g, ci = unit % s.cin_g, g = oc / s.cout_g;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t n = 0; n < s.n; ++n) {
        plane.fill(x + (n * s.c_in + g * s.cin_g + ci) * s.hw_in);
        const T* gp = grad_out + (n * s.c_out + oc) * s.hw_out;
        for (int64_t oh = 0; oh < s.h_out; ++oh) std::copy(gp + oh * s.w_out, gp + (oh + 1) * s.w_out, &go[oh * padded_cols]);
        for (int64_t i = 0; i < s.kh; ++i) {
          for (int64_t j = 0; j < s.kw; ++j) {
            const int64_t phase = (j * s.dw) % s.sw, shift = j * s.dw / s.sw;
            T partial = 0;  // one sample's sum in T, the batch total in double
            for (int64_t oh = 0; oh < s.h_out; ++oh) {
              const T* src = plane.row(phase, oh * s.sh + i * s.dh) + shift;
              const T* grow = go.data() + oh * padded_cols;
#pragma omp simd reduction(+ : partial)
              for (int64_t ow = 0; ow < padded_cols; ++ow) partial += grow[ow] * src[ow];
            }
            acc[i * s.kw + j] += static_cast<double>(partial);
          }
        }
      }
      for (int64_t t = 0; t < taps; ++t) grad_w[unit * taps + t] = static_cast<T>(acc[t]);
    }
  });
}

template void direct_forward<float>(float*, const float*, const float*, const float*, const ConvShape&);
template void direct_forward<double>(double*, const double*, const double*, const double*, const ConvShape&);
template void direct_backward_input<float>(float*, const float*, const float*, const ConvShape&);
template void direct_backward_input<double>(double*, const double*, const double*, const ConvShape&);
template void direct_backward_weight<float>(float*, const float*, const float*, const ConvShape&);
template void direct_backward_weight<double>(double*, const double*, const double*, const ConvShape&);

}  // namespace ff::conv_cpu
