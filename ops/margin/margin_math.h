// The per-element math of the combined margin, shared verbatim by the CPU kernels (margin.cpp)
// and the CUDA kernels (margin.cu) so the two devices cannot drift apart.
//
// With x = clamp(cos θ_j, -1, 1) and t the row's target class:
//   j == t:  out = s · f(x),  f(x) = cos(m1·θ + m2) − m3,  θ = acos x
//   j != t:  out = s · x      (0 when the inter-class filter drops the column)
// and the backward multiplies the incoming gradient by s · f'(x) on the target column and by s
// (or 0 where filtered) elsewhere. Everything here works on one target element; the kernels
// only loop.
//
// Numerical safety (see docs/partial_fc.md, "Margin numerics"):
//  * θ → 0 or θ → π: f'(x) = m1·sin(m1·θ + m2) / sin θ divides by sin θ → 0 (and is truly
//    unbounded at θ = 0 when m2 > 0). The derivative is evaluated at θ clamped into
//    [kMinTheta, π − kMinTheta]; the forward value always uses the exact θ. m1 = 1, m2 = 0
//    (CosFace, plain softmax) takes an exact fast path with f'(x) = 1.
//  * m1·θ + m2 > π: cos(·) turns back up, so the target logit would *grow* as the sample moves
//    away from its centre and the analytic gradient would change sign. Four policies
//    (MarginOverflow in margin.h); the default kLinear continues f past θ_b = (π − m2)/m1 as the
//    straight line of slope 1 in x through (cos θ_b, −1 − m3): continuous, monotone, f' = 1.
#pragma once

#include <math.h>

#include <cmath>

#if defined(__CUDACC__)
#define FF_MARGIN_HD __host__ __device__ __forceinline__
#else
#define FF_MARGIN_HD inline
#endif

namespace ff::margin_math {

// Smallest angle (radians) at which the derivative is evaluated; float32 cannot resolve a
// nonzero θ below ~3.4e-4 anyway (acos(1 − 2^-24)).
constexpr double kMinTheta = 1e-3;
constexpr double kPi = 3.14159265358979323846;

// Same values as ff::MarginOverflow (margin.h), kept as plain ints for device code.
enum OverflowPolicy : int { kOverflowLinear = 0, kOverflowPlain = 1, kOverflowThMm = 2, kOverflowEasy = 3 };

// Everything a kernel needs, precomputed on the host from MarginOptions (in double; kernels
// convert to their compute type A).
struct Constants {
  double m1 = 1.0, m2 = 0.0, m3 = 0.0, scale = 1.0;
  double theta_limit = 2.0 * kPi;  // θ_b = (π − m2)/m1; above π there is no overflow region
  double cos_limit = -2.0;         // cos θ_b (x ≤ cos_limit is the overflow region); −2: none
  double mm = 0.0;                 // kOverflowThMm offset sin(π − m2)·m2 (arcface_torch before 657ae30e)
  double filter_threshold = 0.0;   // > 0: non-target columns with x > threshold become 0
  int overflow = kOverflowLinear;
  bool straight_through = false;   // arcface_torch: f' := 1 on the target column
  bool identity_angle = false;     // m1 == 1 && m2 == 0: f(x) = x − m3 exactly
};

inline Constants make_constants(double m1, double m2, double m3, double scale, int overflow, bool straight_through,
                                double filter_threshold) {
  Constants c;
  c.m1 = m1, c.m2 = m2, c.m3 = m3, c.scale = scale;
  c.overflow = overflow;
  c.straight_through = straight_through;
  c.filter_threshold = filter_threshold;
  c.identity_angle = m1 == 1.0 && m2 == 0.0;
  c.theta_limit = (kPi - m2) / m1;
  c.cos_limit = c.theta_limit < kPi ? std::cos(c.theta_limit) : -2.0;
  c.mm = std::sin(kPi - m2) * m2;
  return c;
}

// C names, which host and device code both have for float and double.
FF_MARGIN_HD float m_cos(float x) { return cosf(x); }
FF_MARGIN_HD double m_cos(double x) { return ::cos(x); }
FF_MARGIN_HD float m_sin(float x) { return sinf(x); }
FF_MARGIN_HD double m_sin(double x) { return ::sin(x); }
FF_MARGIN_HD float m_acos(float x) { return acosf(x); }
FF_MARGIN_HD double m_acos(double x) { return ::acos(x); }

template <typename A>
FF_MARGIN_HD A clamp_unit(A x) {
  return x < A(-1) ? A(-1) : (x > A(1) ? A(1) : x);
}

// m1·sin(m1·θ + m2)/sin θ with θ kept away from 0 and π.
template <typename A>
FF_MARGIN_HD A analytic_slope(A theta, const Constants& c) {
  const A lo = A(kMinTheta), hi = A(kPi - kMinTheta);
  const A th = theta < lo ? lo : (theta > hi ? hi : theta);
  return A(c.m1) * m_sin(A(c.m1) * th + A(c.m2)) / m_sin(th);
}

// Target value f(x) and slope f'(x) (before the scale s) for a raw cosine x.
template <typename A>
FF_MARGIN_HD void target_value(A raw_x, const Constants& c, A* value, A* slope) {
  const A x = clamp_unit(raw_x);
  if (c.identity_angle) {
    *value = x - A(c.m3);
    *slope = A(1);
    return;
  }
  const A theta = m_acos(x);
  A f, df;
  // Outside the regular branch every policy is "cosine minus a constant", slope 1.
  bool regular = true;
  A offset = A(0);
  if (c.overflow == kOverflowLinear && x <= A(c.cos_limit)) {
    regular = false, offset = A(c.cos_limit) + A(1);  // f = x − cos θ_b − 1 − m3
  } else if (c.overflow == kOverflowThMm && x <= A(c.cos_limit)) {
    regular = false, offset = A(c.mm);                 // f = x − mm − m3
  } else if (c.overflow == kOverflowEasy && x <= A(0)) {
    regular = false, offset = -A(c.m3);                // f = x: no margin at all for θ ≥ π/2
  }
  if (regular) {
    f = m_cos(A(c.m1) * theta + A(c.m2)) - A(c.m3);
    df = analytic_slope(theta, c);
  } else {
    f = x - offset - A(c.m3);
    df = A(1);
  }
  *value = f;
  *slope = c.straight_through ? A(1) : df;
}

// Whether the inter-class filter zeroes a non-target column with raw cosine x.
template <typename A>
FF_MARGIN_HD bool filtered(A raw_x, const Constants& c) {
  return c.filter_threshold > 0.0 && raw_x > A(c.filter_threshold);
}

}  // namespace ff::margin_math
