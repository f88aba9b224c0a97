// Helpers for the matmul / conv / pool tests: random inputs, closeness checks, error-message
// checks, and naive reference loops (written independently of the kernels, in double).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "ops/conv/conv2d.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"
#include "tests/common/test_assertions.h"

namespace ff::testing {

inline Tensor random_tensor(const Shape& shape, uint64_t seed, DType dtype = DType::Float32, double lo = -1.0,
                            double hi = 1.0) {
  Generator g(seed);
  return uniform(shape, lo, hi, dtype, Device(), &g);
}

// |actual - expected| <= atol + rtol * |expected| everywhere; reports the first offender.
inline ::testing::AssertionResult all_close(const Tensor& actual, const std::vector<double>& expected, double atol,
                                            double rtol) {
  const std::vector<double> got = to_vector<double>(actual);
  if (got.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size " << got.size() << " vs expected " << expected.size();
  }
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(got[i] - expected[i]);
    if (!(err <= atol + rtol * std::abs(expected[i]))) {
      return ::testing::AssertionFailure() << "element " << i << ": got " << got[i] << ", expected " << expected[i]
                                           << " (|err| " << err << ") in " << actual.describe();
    }
    worst = std::max(worst, err);
  }
  return ::testing::AssertionSuccess() << "max abs error " << worst;
}

// all_close(Tensor, Tensor, ...) and throws_error_with come from tests/common/test_assertions.h.

// Rounds a tensor's values through `dtype` and back to float32 (what a 16-bit input really holds).
inline Tensor rounded_through(const Tensor& t, DType dtype) { return t.to(dtype).to(DType::Float32); }

// ---- reference matmul: a [M, K] @ b [K, N], row-major host vectors --------------------------------
inline std::vector<double> matmul_ref(const std::vector<double>& a, const std::vector<double>& b, int64_t m,
                                      int64_t k, int64_t n) {
  std::vector<double> c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t t = 0; t < k; ++t) s += a[i * k + t] * b[t * n + j];
      c[i * n + j] = s;
    }
  }
  return c;
}

// ---- reference conv2d ---------------------------------------------------------------------------------
// Visits every (output element, weight element, input element) triple of a conv with the
// definition out[n, oc, oh, ow] += w[oc, ci, i, j] * x[n, g * cin_g + ci, oh*sh - ph + i*dh, ...].
struct ConvRef {
  Shape x, w, out;
  Conv2dParams p;

  template <typename Visit>  // visit(out_index, w_index, x_index)
  void for_each_tap(Visit&& visit) const {
    const int64_t cin_g = w[1], cout_g = w[0] / p.groups;
    for (int64_t n = 0; n < out[0]; ++n)
      for (int64_t oc = 0; oc < out[1]; ++oc)
        for (int64_t oh = 0; oh < out[2]; ++oh)
          for (int64_t ow = 0; ow < out[3]; ++ow)
            for (int64_t ci = 0; ci < cin_g; ++ci)
              for (int64_t i = 0; i < w[2]; ++i)
                for (int64_t j = 0; j < w[3]; ++j) {
                  const int64_t ih = oh * p.stride[0] - p.padding[0] + i * p.dilation[0];
                  const int64_t iw = ow * p.stride[1] - p.padding[1] + j * p.dilation[1];
                  if (ih < 0 || ih >= x[2] || iw < 0 || iw >= x[3]) continue;
                  const int64_t c = (oc / cout_g) * cin_g + ci;
                  visit(((n * out[1] + oc) * out[2] + oh) * out[3] + ow, ((oc * cin_g + ci) * w[2] + i) * w[3] + j,
                        ((n * x[1] + c) * x[2] + ih) * x[3] + iw);
                }
  }

  std::vector<double> forward(const std::vector<double>& xv, const std::vector<double>& wv,
                              const std::vector<double>& bias) const {
    std::vector<double> o(static_cast<size_t>(shape_numel(out)), 0.0);
    const int64_t hw = out[2] * out[3];
    if (!bias.empty()) {
      for (size_t e = 0; e < o.size(); ++e) o[e] = bias[(e / hw) % out[1]];
    }
    for_each_tap([&](int64_t oi, int64_t wi, int64_t xi) { o[oi] += wv[wi] * xv[xi]; });
    return o;
  }
  std::vector<double> grad_input(const std::vector<double>& g, const std::vector<double>& wv) const {
    std::vector<double> gx(static_cast<size_t>(shape_numel(x)), 0.0);
    for_each_tap([&](int64_t oi, int64_t wi, int64_t xi) { gx[xi] += g[oi] * wv[wi]; });
    return gx;
  }
  std::vector<double> grad_weight(const std::vector<double>& g, const std::vector<double>& xv) const {
    std::vector<double> gw(static_cast<size_t>(shape_numel(w)), 0.0);
    for_each_tap([&](int64_t oi, int64_t wi, int64_t xi) { gw[wi] += g[oi] * xv[xi]; });
    return gw;
  }
};

}  // namespace ff::testing
