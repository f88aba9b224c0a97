// CPU kernels of conv2d: forward, backward-to-input and backward-to-weight.
//
// Two strategies:
//  * im2col + GEMM (OpenBLAS) for ordinary and wide grouped convs. The column matrix of a chunk
//    of samples is [C_in * kH * kW, samples * H_out * W_out]; small feature maps (7x7, 14x14)
//    put several samples side by side so the GEMM is wide enough for BLAS to reach its peak,
//    large ones (56x56, 112x112) are cut into tiles of output rows so the column matrix stays
//    cache-sized. A 1x1, stride-1, unpadded conv with one sample per chunk skips im2col: the
//    input already is the column matrix.
//  * Direct loops for depthwise and other narrow grouped convs (<= kDirectMaxChannelsPerGroup
//    input channels per group), where per-group GEMMs would be tiny (M = 1..4, K = 9..36):
//    conv2d_cpu_direct.cpp.
//
// Threads (all OpenMP, via ff::parallel_for; BLAS calls are single-threaded inside a region):
//  * GEMM paths split the batch: each thread takes whole chunks of samples and does their im2col,
//    GEMMs and layout copies with its own buffers, so nothing waits on anything until the end.
//    The weight gradient is summed per thread and the partial sums are added in a fixed order
//    (deterministic for a given thread count). With a single chunk (batch 1) the steps
//    themselves run in parallel instead: im2col over planes, the GEMM over blocks of C.
//  * Direct loops split planes (see conv2d_cpu_direct.h).
// fp16/bf16 run the float kernels on widened copies and round once on store.
#include <algorithm>
#include <limits>
#include <vector>

#include "framework/core/parallel.h"
#include "framework/dispatch/registry.h"
#include "ops/conv/conv2d.h"
#include "ops/conv/conv2d_cpu_direct.h"
#include "ops/conv/conv2d_cpu_shape.h"
#include "ops/linalg/cpu_blas.h"
#include "ops/tensor_ops/copy.h"

namespace ff {
namespace {

using namespace conv_cpu;

constexpr int64_t kTargetGemmColumns = 2048;        // GEMM width worth batching samples for
constexpr int64_t kMaxColumnBytes = int64_t{64} << 20;  // bound on the im2col buffer

// Samples per im2col chunk: at most enough to make the GEMM about kTargetGemmColumns wide (and
// within the buffer bound), chosen so the threads get equal shares: the busiest thread's sample
// count, ceil(chunks / threads) * samples, is minimised (ties go to wider GEMMs). E.g. batch 32
// at 28x28 on 2 threads: 3 samples per chunk would make 11 chunks (6 + 5), 2 makes 16 (8 + 8).
int64_t samples_per_chunk(const ConvShape& s, size_t elem_size) {
  const int64_t n = std::max<int64_t>(s.n, 1);
  const int64_t want = std::clamp<int64_t>((kTargetGemmColumns + s.hw_out - 1) / std::max<int64_t>(s.hw_out, 1), 1, n);
  const int64_t bytes_per_sample = s.groups * s.k_g * s.hw_out * static_cast<int64_t>(elem_size);
  const int64_t cap = std::max<int64_t>(1, kMaxColumnBytes / std::max<int64_t>(bytes_per_sample, 1));
  const int64_t threads = get_num_threads();
  int64_t best = 1, best_load = std::numeric_limits<int64_t>::max();
  for (int64_t samples = std::min(want, cap); samples >= 1; --samples) {
    const int64_t chunks = (n + samples - 1) / samples;
    const int64_t load = std::min(n, (chunks + threads - 1) / threads * samples);  // thread 0's samples
    if (load < best_load) best = samples, best_load = load;
  }
  return best;
}

// Runs body(first_chunk, last_chunk) with each thread taking a contiguous run of chunks; a
// single chunk runs inline, leaving the parallelism to the steps inside it.
template <typename Body>
void for_chunks(int64_t num_chunks, Body&& body) {
  parallel_for(0, num_chunks, 1, body);
}

// ---- im2col / col2im ----------------------------------------------------------------------------------
// col [C_in * kh * kw, nb * tile] (row stride ld) from output rows [oh0, oh1) of nb samples
// starting at x, tile = (oh1 - oh0) * w_out. Row (c, i, j), column (sample, oh - oh0, ow) holds
// x[sample, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw], or 0 where that falls in the padding.
template <typename T>
void im2col(const T* x, int64_t nb, int64_t oh0, int64_t oh1, const ConvShape& s, T* col, int64_t ld) {
  const int64_t tile = (oh1 - oh0) * s.w_out;
  parallel_for(0, nb * s.c_in, plane_grain(s.kh * s.kw * tile), [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t sample = unit / s.c_in, c = unit % s.c_in;
      const T* plane = x + unit * s.hw_in;
      for (int64_t i = 0; i < s.kh; ++i) {
        const int64_t h_off = i * s.dh - s.ph;
        const int64_t lo = std::clamp(s.rows[i].lo, oh0, oh1), hi = std::clamp(s.rows[i].hi, lo, oh1);
        for (int64_t j = 0; j < s.kw; ++j) {
          const int64_t w_off = j * s.dw - s.pw;
          const Range rw = s.cols[j];
          T* row = col + ((c * s.kh + i) * s.kw + j) * ld + sample * tile - oh0 * s.w_out;  // indexed by oh
          std::fill(row + oh0 * s.w_out, row + lo * s.w_out, T(0));
          std::fill(row + hi * s.w_out, row + oh1 * s.w_out, T(0));
          for (int64_t oh = lo; oh < hi; ++oh) {
            T* dst = row + oh * s.w_out;
            const T* src = plane + (oh * s.sh + h_off) * s.w + w_off;
            std::fill(dst, dst + rw.lo, T(0));
            std::fill(dst + rw.hi, dst + s.w_out, T(0));
            if (s.sw == 1) {
              std::copy(src + rw.lo, src + rw.hi, dst + rw.lo);
            } else {
              for (int64_t ow = rw.lo; ow < rw.hi; ++ow) dst[ow] = src[ow * s.sw];
            }
          }
        }
      }
    }
  });
}

// The adjoint of im2col: adds every column entry back onto the input position it was read from.
// The first tile of a sample (oh0 == 0) overwrites its planes instead of accumulating. Each
// (sample, channel) plane is written by one thread.
template <typename T>
void col2im(const T* col, int64_t ld, int64_t nb, int64_t oh0, int64_t oh1, const ConvShape& s, T* grad_x) {
  const int64_t tile = (oh1 - oh0) * s.w_out;
  parallel_for(0, nb * s.c_in, plane_grain(s.kh * s.kw * tile), [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t sample = unit / s.c_in, c = unit % s.c_in;
      T* plane = grad_x + unit * s.hw_in;
      if (oh0 == 0) std::fill(plane, plane + s.hw_in, T(0));
      for (int64_t i = 0; i < s.kh; ++i) {
        const int64_t h_off = i * s.dh - s.ph;
        const int64_t lo = std::clamp(s.rows[i].lo, oh0, oh1), hi = std::clamp(s.rows[i].hi, lo, oh1);
        for (int64_t j = 0; j < s.kw; ++j) {
          const int64_t w_off = j * s.dw - s.pw;
          const Range rw = s.cols[j];
          const T* row = col + ((c * s.kh + i) * s.kw + j) * ld + sample * tile - oh0 * s.w_out;
          for (int64_t oh = lo; oh < hi; ++oh) {
            const T* src = row + oh * s.w_out;
            T* dst = plane + (oh * s.sh + h_off) * s.w + w_off;
            for (int64_t ow = rw.lo; ow < rw.hi; ++ow) dst[ow * s.sw] += src[ow];
          }
        }
      }
    }
  });
}

// [nb, C, hw] (sample-major, as in NCHW) <-> [C, nb * hw] (channel-major, as the GEMMs see it).
template <typename T>
void samples_to_columns(const T* src, int64_t nb, int64_t channels, int64_t hw, T* dst) {
  parallel_for(0, nb * channels, plane_grain(hw), [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t sample = unit / channels, c = unit % channels;
      std::copy(src + unit * hw, src + (unit + 1) * hw, dst + (c * nb + sample) * hw);
    }
  });
}

// dst [nb, C, hw] = columns [C, nb * hw] (+ bias[c] when bias is not null).
template <typename T>
void columns_to_samples(const T* src, int64_t nb, int64_t channels, int64_t hw, const T* bias, T* dst) {
  parallel_for(0, nb * channels, plane_grain(hw), [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t sample = unit / channels, c = unit % channels;
      const T* from = src + (c * nb + sample) * hw;
      T* to = dst + unit * hw;
      const T b = bias ? bias[c] : T(0);
      for (int64_t k = 0; k < hw; ++k) to[k] = from[k] + b;
    }
  });
}

// ---- im2col + GEMM ------------------------------------------------------------------------------------
// Work is cut into chunks of samples (see samples_per_chunk). A one-sample chunk of a large map is
// further cut into tiles of output rows, so its column buffer stays cache-sized (a 3x3 conv with
// 64 channels at 112x112 would otherwise write and re-read 29 MB per sample); the GEMMs then
// write into (or read from) the NCHW planes directly, with the plane as leading dimension.
struct ChunkPlan {
  int64_t samples;        // per chunk
  int64_t num_chunks;
  int64_t rows_per_tile;  // output rows per tile: h_out unless one-sample chunks are tiled
  bool skip_im2col;       // 1x1, stride 1, unpadded, one sample per chunk: x is the column matrix

  int64_t max_columns(const ConvShape& s) const {
    return samples > 1 ? samples * s.hw_out : rows_per_tile * s.w_out;
  }
};

constexpr int64_t kTileColumns = 1024;

ChunkPlan plan_chunks(const ConvShape& s, size_t elem_size) {
  ChunkPlan c;
  c.samples = samples_per_chunk(s, elem_size);
  c.num_chunks = (s.n + c.samples - 1) / c.samples;
  c.skip_im2col = s.pointwise() && c.samples == 1;
  c.rows_per_tile = s.h_out;
  if (c.samples == 1 && !c.skip_im2col) {
    c.rows_per_tile = std::clamp<int64_t>(kTileColumns / std::max<int64_t>(s.w_out, 1), 1, std::max<int64_t>(s.h_out, 1));
  }
  return c;
}

template <typename T>
void forward_gemm(T* out, const T* x, const T* w, const T* bias, const ConvShape& s) {
  const ChunkPlan plan = plan_chunks(s, sizeof(T));
  for_chunks(plan.num_chunks, [&](int64_t first, int64_t last) {
    std::vector<T> col(plan.skip_im2col ? 0 : s.groups * s.k_g * plan.max_columns(s));
    std::vector<T> staging(plan.samples > 1 ? s.c_out * plan.samples * s.hw_out : 0);
    for (int64_t chunk = first; chunk < last; ++chunk) {
      const int64_t n0 = chunk * plan.samples, nb = std::min(plan.samples, s.n - n0);
      const T* x_chunk = x + n0 * s.c_in * s.hw_in;
      T* out_chunk = out + n0 * s.c_out * s.hw_out;
      for (int64_t oh0 = 0; oh0 < s.h_out; oh0 += plan.rows_per_tile) {
        const int64_t oh1 = std::min(s.h_out, oh0 + plan.rows_per_tile), ncols = nb * (oh1 - oh0) * s.w_out;
        const T* columns = x_chunk;  // B: [C_in * kh * kw, ncols]
        int64_t ldb = s.hw_in;
        if (!plan.skip_im2col) {
          im2col(x_chunk, nb, oh0, oh1, s, col.data(), ncols);
          columns = col.data(), ldb = ncols;
        }
        // C: the NCHW planes themselves for one sample, a [C_out, ncols] staging buffer otherwise.
        T* dst = nb == 1 ? out_chunk + oh0 * s.w_out : staging.data();
        const int64_t ldc = nb == 1 ? s.hw_out : ncols;
        for (int64_t g = 0; g < s.groups; ++g) {  // out_g [cout_g, ncols] = W_g [cout_g, k_g] @ col_g [k_g, ncols]
          cpu::blas_gemm(false, false, s.cout_g, ncols, s.k_g, T(1), w + g * s.cout_g * s.k_g, s.k_g,
                         columns + g * s.k_g * ldb, ldb, T(0), dst + g * s.cout_g * ldc, ldc);
        }
      }
      if (nb > 1) {
        columns_to_samples(staging.data(), nb, s.c_out, s.hw_out, bias, out_chunk);
      } else if (bias) {
        columns_to_samples(out_chunk, 1, s.c_out, s.hw_out, bias, out_chunk);  // in place
      }
    }
  });
}

template <typename T>
void backward_input_gemm(T* grad_x, const T* grad_out, const T* w, const ConvShape& s) {
  const ChunkPlan plan = plan_chunks(s, sizeof(T));
  for_chunks(plan.num_chunks, [&](int64_t first, int64_t last) {
    std::vector<T> col(plan.skip_im2col ? 0 : s.groups * s.k_g * plan.max_columns(s));
    std::vector<T> staging(plan.samples > 1 ? s.c_out * plan.samples * s.hw_out : 0);
    for (int64_t chunk = first; chunk < last; ++chunk) {
      const int64_t n0 = chunk * plan.samples, nb = std::min(plan.samples, s.n - n0);
      const T* g_chunk = grad_out + n0 * s.c_out * s.hw_out;
      T* gx_chunk = grad_x + n0 * s.c_in * s.hw_in;
      if (nb > 1) samples_to_columns(g_chunk, nb, s.c_out, s.hw_out, staging.data());
      for (int64_t oh0 = 0; oh0 < s.h_out; oh0 += plan.rows_per_tile) {
        const int64_t oh1 = std::min(s.h_out, oh0 + plan.rows_per_tile), ncols = nb * (oh1 - oh0) * s.w_out;
        const T* g_cols = nb == 1 ? g_chunk + oh0 * s.w_out : staging.data();  // B: [C_out, ncols]
        const int64_t ldb = nb == 1 ? s.hw_out : ncols;
        T* dst = plan.skip_im2col ? gx_chunk : col.data();  // C: [C_in * kh * kw, ncols]
        const int64_t ldc = plan.skip_im2col ? s.hw_in : ncols;
        for (int64_t g = 0; g < s.groups; ++g) {  // col_g [k_g, ncols] = W_g^T [k_g, cout_g] @ g_g [cout_g, ncols]
          cpu::blas_gemm(true, false, s.k_g, ncols, s.cout_g, T(1), w + g * s.cout_g * s.k_g, s.k_g,
                         g_cols + g * s.cout_g * ldb, ldb, T(0), dst + g * s.k_g * ldc, ldc);
        }
        if (!plan.skip_im2col) col2im(col.data(), ncols, nb, oh0, oh1, s, gx_chunk);
      }
    }
  });
}

template <typename T>
void backward_weight_gemm(T* grad_w, const T* grad_out, const T* x, const ConvShape& s) {
  const int64_t weight_size = s.c_out * s.k_g;
  std::fill(grad_w, grad_w + weight_size, T(0));
  if (s.n == 0) return;
  const ChunkPlan plan = plan_chunks(s, sizeof(T));
  // One partial sum per thread (kept at its first chunk's index), added up in chunk order after.
  std::vector<std::vector<T>> partials(static_cast<size_t>(plan.num_chunks));
  for_chunks(plan.num_chunks, [&](int64_t first, int64_t last) {
    std::vector<T> col(plan.skip_im2col ? 0 : s.groups * s.k_g * plan.max_columns(s));
    std::vector<T> staging(plan.samples > 1 ? s.c_out * plan.samples * s.hw_out : 0);
    std::vector<T>& partial = partials[first];
    partial.resize(weight_size);
    bool first_product = true;
    for (int64_t chunk = first; chunk < last; ++chunk) {
      const int64_t n0 = chunk * plan.samples, nb = std::min(plan.samples, s.n - n0);
      const T* x_chunk = x + n0 * s.c_in * s.hw_in;
      const T* g_chunk = grad_out + n0 * s.c_out * s.hw_out;
      if (nb > 1) samples_to_columns(g_chunk, nb, s.c_out, s.hw_out, staging.data());
      for (int64_t oh0 = 0; oh0 < s.h_out; oh0 += plan.rows_per_tile) {
        const int64_t oh1 = std::min(s.h_out, oh0 + plan.rows_per_tile), ncols = nb * (oh1 - oh0) * s.w_out;
        const T* columns = x_chunk;
        int64_t ld_col = s.hw_in;
        if (!plan.skip_im2col) {
          im2col(x_chunk, nb, oh0, oh1, s, col.data(), ncols);
          columns = col.data(), ld_col = ncols;
        }
        const T* g_cols = nb == 1 ? g_chunk + oh0 * s.w_out : staging.data();
        const int64_t ld_g = nb == 1 ? s.hw_out : ncols;
        const T beta = first_product ? T(0) : T(1);  // this thread's tiles and chunks accumulate
        first_product = false;
        for (int64_t g = 0; g < s.groups; ++g) {  // gW_g [cout_g, k_g] += g_g [cout_g, ncols] @ col_g^T [ncols, k_g]
          cpu::blas_gemm(false, true, s.cout_g, s.k_g, ncols, T(1), g_cols + g * s.cout_g * ld_g, ld_g,
                         columns + g * s.k_g * ld_col, ld_col, beta, partial.data() + g * s.cout_g * s.k_g, s.k_g);
        }
      }
    }
  });
  for (const auto& partial : partials) {
    if (partial.empty()) continue;
    parallel_for(0, weight_size, kParallelGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) grad_w[i] += partial[i];
    });
  }
}

// ---- typed entry points and registration -----------------------------------------------------------------
template <typename T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <typename T>
void conv2d_forward_typed(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                          const Conv2dParams& p) {
  const ConvShape s = conv_shape(x.sizes(), w.sizes(), out.sizes(), p);
  if (out.numel() == 0) return;
  if (s.direct()) return direct_forward(out.data<T>(), x.data<T>(), w.data<T>(), data_or_null<T>(bias), s);
  forward_gemm(out.data<T>(), x.data<T>(), w.data<T>(), data_or_null<T>(bias), s);
}

template <typename T>
void conv2d_backward_input_typed(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w, const Conv2dParams& p) {
  const ConvShape s = conv_shape(grad_x.sizes(), w.sizes(), grad_out.sizes(), p);
  if (grad_x.numel() == 0) return;
  if (s.direct()) return direct_backward_input(grad_x.data<T>(), grad_out.data<T>(), w.data<T>(), s);
  backward_input_gemm(grad_x.data<T>(), grad_out.data<T>(), w.data<T>(), s);
}

template <typename T>
void conv2d_backward_weight_typed(const Tensor& grad_w, const Tensor& grad_out, const Tensor& x,
                                  const Conv2dParams& p) {
  const ConvShape s = conv_shape(x.sizes(), grad_w.sizes(), grad_out.sizes(), p);
  if (grad_w.numel() == 0) return;
  if (s.direct()) return direct_backward_weight(grad_w.data<T>(), grad_out.data<T>(), x.data<T>(), s);
  backward_weight_gemm(grad_w.data<T>(), grad_out.data<T>(), x.data<T>(), s);
}

Tensor widened(const Tensor& t) {
  if (!t.defined()) return t;
  Tensor f = Tensor::empty(t.sizes(), DType::Float32, t.device());
  copy_into(f, t);
  return f;
}

Tensor float_like(const Tensor& t) { return Tensor::empty(t.sizes(), DType::Float32, t.device()); }

// Runs kernel(T{}, out, inputs...) with T the compute type of out's dtype: float and double
// tensors directly; 16-bit ones through float copies (inputs widened, a float output rounded
// once into `out`), the rule stated at the top of this file for all three conv kernels.
template <typename Kernel, typename... Inputs>
void run_in_compute_type(const char* op, const Tensor& out, Kernel&& kernel, const Inputs&... inputs) {
  FF_DISPATCH_FLOATING(out.dtype(), op, [&] {
    if constexpr (std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, double>) {
      kernel(scalar_t{}, out, inputs...);
    } else {
      const Tensor out_f = float_like(out);
      kernel(float{}, out_f, widened(inputs)...);
      copy_into(out, out_f);
    }
  });
}

void conv2d_cpu(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  run_in_compute_type(
      "conv2d", out,
      [&](auto t, const Tensor& o, const Tensor& xc, const Tensor& wc, const Tensor& bc) {
        conv2d_forward_typed<decltype(t)>(o, xc, wc, bc, p);
      },
      x, w, bias);
}

void conv2d_backward_input_cpu(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w, const Conv2dParams& p) {
  run_in_compute_type(
      "conv2d_backward_input", grad_x,
      [&](auto t, const Tensor& gx, const Tensor& go, const Tensor& wc) {
        conv2d_backward_input_typed<decltype(t)>(gx, go, wc, p);
      },
      grad_out, w);
}

void conv2d_backward_weight_cpu(const Tensor& grad_w, const Tensor& grad_out, const Tensor& x, const Conv2dParams& p) {
  run_in_compute_type(
      "conv2d_backward_weight", grad_w,
      [&](auto t, const Tensor& gw, const Tensor& go, const Tensor& xc) {
        conv2d_backward_weight_typed<decltype(t)>(gw, go, xc, p);
      },
      grad_out, x);
}

}  // namespace

FF_REGISTER_KERNEL(conv2d, CPU, dispatch::kFloatingTypes, &conv2d_cpu);
FF_REGISTER_KERNEL(conv2d_backward_input, CPU, dispatch::kFloatingTypes, &conv2d_backward_input_cpu);
FF_REGISTER_KERNEL(conv2d_backward_weight, CPU, dispatch::kFloatingTypes, &conv2d_backward_weight_cpu);

}  // namespace ff
