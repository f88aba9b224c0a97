// Small evaluation helpers for the synthetic-dataset tests: insightface's 10-fold verification
// accuracy on similarity scores, and pixel feature extraction.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "data/decode/jpeg.h"
#include "data/loader/augment.h"

namespace ff::data::testing {

// Accuracy at the best threshold chosen on 9 folds, measured on the 10th, averaged over the folds
// (KFold(10, shuffle=False), as insightface's verification.py; scores: higher = more similar).
inline double kfold_verification_accuracy(const std::vector<double>& scores, const std::vector<bool>& issame,
                                          int folds = 10) {
  const size_t n = scores.size();
  double total = 0.0;
  for (int f = 0; f < folds; ++f) {
    const size_t lo = n * f / folds, hi = n * (f + 1) / folds;
    // Candidate thresholds: every training score (predict "same" when score >= threshold).
    std::vector<std::pair<double, bool>> train;
    for (size_t i = 0; i < n; ++i) {
      if (i < lo || i >= hi) train.emplace_back(scores[i], issame[i]);
    }
    std::sort(train.begin(), train.end());
    // Sweep: threshold at train[k] => items k.. predicted same.
    int64_t positives = 0;
    for (const auto& t : train) positives += t.second;
    int64_t correct = positives;  // threshold below everything: all predicted same
    int64_t best = correct;
    double best_threshold = train.front().first - 1.0;
    for (size_t k = 0; k < train.size(); ++k) {
      correct += train[k].second ? -1 : 1;  // item k moves to "different"
      if (correct > best) {
        best = correct;
        best_threshold = k + 1 < train.size() ? 0.5 * (train[k].first + train[k + 1].first) : train[k].first + 1.0;
      }
    }
    int64_t test_correct = 0;
    for (size_t i = lo; i < hi; ++i) test_correct += (scores[i] >= best_threshold) == issame[i];
    total += static_cast<double>(test_correct) / static_cast<double>(hi - lo);
  }
  return total / folds;
}

inline double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb + 1e-30);
}

// Raw pixels of a JPEG, normalised as the loader does ((x - 127.5) / 127.5), HWC order.
inline std::vector<float> pixel_features(const std::vector<uint8_t>& jpeg) {
  const RgbImage image = decode_jpeg(jpeg, "test image");
  std::vector<float> f(image.pixels.size());
  for (size_t i = 0; i < f.size(); ++i) f[i] = normalize_pixel(image.pixels[i]);
  return f;
}

}  // namespace ff::data::testing
