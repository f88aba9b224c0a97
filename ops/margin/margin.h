// combined_margin: the fused margin of ArcFace / CosFace / combined-margin softmax heads.
//
// cosines [N, C] are the cosines between N normalised embeddings and C normalised class
// centres; labels [N] hold each row's target column, or -1 when the row's class is not among
// these C columns (Partial FC: it lives on another rank, or was not sampled — impossible for
// positives). With x = clamp(cosines, -1, 1), θ = acos x:
//
//   out[i, j] = s · (cos(m1·θ_ij + m2) − m3)   j == labels[i]       (the target logit)
//   out[i, j] = s · x_ij                       otherwise (all of a -1 row)
//
// Presets (m1, m2, m3): ArcFace (1, 0.5, 0), CosFace (1, 0, 0.35) or arcface_torch's (1, 0, 0.4),
// combined (1, 0.3, 0.2), plain normalised softmax (1, 0, 0); s = 64 (models/heads/margin_heads.h).
//
// Gradient (MarginGradient):
//   kAnalytic        d out/d x = s · m1 · sin(m1·θ + m2) / sin θ on the target column, s elsewhere.
//   kStraightThrough arcface_torch since 657ae30e: the margin is applied under no_grad, so
//                    d out/d x = s on every column, target included.
// The clamp to [-1, 1] lets the gradient through unchanged: values outside only come from
// rounding in a dot product of unit vectors, and passing the gradient means backward needs
// only O(N) saved state (one slope per row) instead of an N × C copy of the cosines.
//
// θ near 0 and π, and m1·θ + m2 > π: see margin_math.h and MarginOverflow below.
//
// Inter-class filtering (arcface_torch interclass_filtering_threshold t > 0, Partial FC V2 on
// noisy data): every non-target column with x > t is set to 0 and gets no gradient. It applies
// to -1 rows too (their columns are all non-targets), so a sharded head filters exactly like
// an unsharded one. Only then are the cosines saved for backward (N × C).
#pragma once

#include <cstdint>

#include "framework/core/tensor.h"
#include "ops/margin/margin_math.h"

namespace ff {

enum class MarginGradient { kAnalytic, kStraightThrough };

// What the target logit does where m1·θ + m2 passes π (θ > θ_b = (π − m2)/m1).
enum class MarginOverflow {
  kLinear = margin_math::kOverflowLinear,  // default: f = x − cos θ_b − 1 − m3 (continuous, monotone, slope 1)
  kPlain = margin_math::kOverflowPlain,    // arcface_torch HEAD: cos(m1·θ + m2) − m3 regardless
  kThMm = margin_math::kOverflowThMm,      // arcface_torch before 657ae30e (easy_margin=False):
                                           //   f = x − sin(π − m2)·m2 − m3 (jumps at θ_b)
  kEasyMargin = margin_math::kOverflowEasy,  // easy_margin=True: f = x (no margin at all) for θ ≥ π/2
};

struct MarginOptions {
  double m1 = 1.0;
  double m2 = 0.5;
  double m3 = 0.0;
  double scale = 64.0;
  MarginGradient gradient = MarginGradient::kAnalytic;
  MarginOverflow overflow = MarginOverflow::kLinear;
  double interclass_filtering_threshold = 0.0;  // 0 disables the filter

  // Throws naming the bad value: m1 > 0, 0 <= m2 < π, finite m3, scale > 0, threshold in [0, 1].
  void validate() const;
  margin_math::Constants constants() const;
};

// cosines: floating [N, C], any strides; labels: int64/int32 [N] with values in [0, C) or -1
// (anything else raises, naming the row and the value). Returns contiguous [N, C] logits in
// the cosines' dtype. Differentiable in cosines.
Tensor combined_margin(const Tensor& cosines, const Tensor& labels, const MarginOptions& options);

// Kernels, keyed by the cosines' dtype; labels are already range-checked.
// "combined_margin": out [N, C] contiguous; row_slope [N] receives s·f'(x) of each row's
// target column (0 for -1 rows), in float64 for float64 cosines and float32 otherwise; x may
// have any strides.
using CombinedMarginKernel = void (*)(const Tensor& out, const Tensor& row_slope, const Tensor& x,
                                      const Tensor& labels, const margin_math::Constants& c);
// "combined_margin_backward": grad_x [N, C] contiguous = grad_out · (row_slope on the target
// column, s elsewhere, 0 where filtered); grad_out may have any strides; x (needed only when
// the filter is on, otherwise undefined) is the forward input.
using CombinedMarginBackwardKernel = void (*)(const Tensor& grad_x, const Tensor& grad_out, const Tensor& x,
                                              const Tensor& labels, const Tensor& row_slope,
                                              const margin_math::Constants& c);

}  // namespace ff
