// Helpers shared by the backbone tests (tests/models/).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "framework/common/check.h"
#include "framework/nn/module.h"
#include "models/backbone.h"
#include "models/model_factory.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace ff::models::testing {

inline std::vector<double> values(const Tensor& t) { return to_vector<double>(t); }

inline double max_abs(const Tensor& t) {
  double m = 0.0;
  for (double v : values(t)) m = std::max(m, std::abs(v));
  return m;
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = values(a), vb = values(b);
  EXPECT_EQ(va.size(), vb.size());
  double m = 0.0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

// Smallest cosine similarity between matching rows of two [N, D] tensors: how face
// embeddings are compared, so the measure of agreement that matters for recognition.
inline double min_row_cosine(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = values(a), vb = values(b);
  const int64_t n = a.size(0), d = a.size(1);
  double worst = 1.0;
  for (int64_t i = 0; i < n; ++i) {
    double dot = 0.0, na = 0.0, nb = 0.0;
    for (int64_t j = 0; j < d; ++j) {
      const double x = va[i * d + j], y = vb[i * d + j];
      dot += x * y, na += x * x, nb += y * y;
    }
    worst = std::min(worst, dot / std::sqrt(na * nb));
  }
  return worst;
}

inline bool all_finite(const Tensor& t) {
  for (double v : values(t)) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

// The same random batch for a given seed: [n, 3, size, size], N(0, 1) (like (x/255 - 0.5)/0.5
// image data, which lies in [-1, 1]).
inline Tensor random_images(int64_t n, int64_t size, uint64_t seed, DType dtype = DType::Float32) {
  Generator gen(seed);
  return randn({n, 3, size, size}, dtype, Device(), &gen);
}

// A model from the factory, as its Backbone base.
inline std::shared_ptr<Backbone> make_backbone(const std::string& name, const BackboneOptions& options = {}) {
  std::shared_ptr<Backbone> b = std::dynamic_pointer_cast<Backbone>(create_backbone(name, options));
  EXPECT_NE(b, nullptr) << name << " is not a models::Backbone";
  return b;
}

// Tiny test variant: channels / 32 (IResNet 2-4-8-16, MobileFaceNet 4-8 with 16-wide head),
// input 32x32 (head 2x2), embedding 8.
inline BackboneOptions tiny_options() {
  return BackboneOptions().set_width_divisor(32).set_input_size(32).set_embedding_size(8);
}

// Runs f and expects an ff::Error whose message contains every one of `parts`.
template <typename F>
void expect_error_containing(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an ff::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const std::string& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
  }
}

}  // namespace ff::models::testing
