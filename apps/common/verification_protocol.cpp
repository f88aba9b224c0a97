#include "apps/common/verification_protocol.h"

#include <cmath>

#include "framework/common/check.h"

namespace ff::apps {

const std::vector<double>& verification_thresholds() {
  static const std::vector<double> thresholds = [] {
    // numpy's arange fills element i with start + i * step; 0.01 * 400 = 4 is excluded.
    std::vector<double> t(400);
    for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<double>(i) * 0.01;
    return t;
  }();
  return thresholds;
}

std::vector<std::pair<int64_t, int64_t>> kfold_test_ranges(int64_t n, int num_folds) {
  FF_CHECK(num_folds >= 2, "verification: need at least 2 folds, got {}", num_folds);
  FF_CHECK(n >= num_folds, "verification: {} pairs cannot be split into {} folds (need at least one pair per fold)",
           n, num_folds);
  std::vector<std::pair<int64_t, int64_t>> ranges;
  const int64_t base = n / num_folds, extra = n % num_folds;
  int64_t begin = 0;
  for (int f = 0; f < num_folds; ++f) {
    const int64_t size = base + (f < extra ? 1 : 0);
    ranges.emplace_back(begin, begin + size);
    begin += size;
  }
  FF_ASSERT(begin == n, "fold sizes add up to {}, not {}", begin, n);
  return ranges;
}

void l2_normalize_rows(std::vector<double>& embeddings, int64_t rows, int64_t dim) {
  FF_ASSERT(static_cast<int64_t>(embeddings.size()) == rows * dim, "{} values for [{}, {}]", embeddings.size(), rows,
            dim);
  for (int64_t r = 0; r < rows; ++r) {
    double* row = embeddings.data() + r * dim;
    double sq = 0;
    for (int64_t k = 0; k < dim; ++k) sq += row[k] * row[k];
    const double norm = std::sqrt(sq);
    if (norm == 0) continue;  // sklearn divides by 1 instead of 0: the row stays zero
    for (int64_t k = 0; k < dim; ++k) row[k] /= norm;
  }
}

std::vector<double> pair_distances(const std::vector<double>& embeddings, int64_t rows, int64_t dim) {
  FF_ASSERT(rows % 2 == 0 && static_cast<int64_t>(embeddings.size()) == rows * dim, "{} values for [{}, {}]",
            embeddings.size(), rows, dim);
  std::vector<double> dist(static_cast<size_t>(rows / 2));
  for (int64_t i = 0; i < rows / 2; ++i) {
    const double* a = embeddings.data() + (2 * i) * dim;
    const double* b = embeddings.data() + (2 * i + 1) * dim;
    double d = 0;
    for (int64_t k = 0; k < dim; ++k) d += (a[k] - b[k]) * (a[k] - b[k]);
    dist[static_cast<size_t>(i)] = d;
  }
  return dist;
}

VerificationResult evaluate_distances(const std::vector<double>& dist, const std::vector<bool>& issame,
                                      int num_folds) {
  FF_CHECK(dist.size() == issame.size(), "verification: {} distances but {} issame labels", dist.size(),
           issame.size());
  const int64_t pairs = static_cast<int64_t>(dist.size());
  for (int64_t i = 0; i < pairs; ++i) {
    FF_CHECK(std::isfinite(dist[static_cast<size_t>(i)]), "verification: pair {} has a non-finite distance ({})", i,
             dist[static_cast<size_t>(i)]);
  }
  const auto folds = kfold_test_ranges(pairs, num_folds);
  const std::vector<double>& thresholds = verification_thresholds();
  const size_t num_thresholds = thresholds.size();

  // Correct predictions per (fold, threshold) and, over all pairs, the confusion counts per
  // threshold. A fold's training accuracy has the same denominator for every threshold, so the
  // first argmax of the correct count is the first argmax of numpy's accuracy array.
  std::vector<std::vector<int64_t>> fold_correct(folds.size(), std::vector<int64_t>(num_thresholds, 0));
  std::vector<int64_t> total_correct(num_thresholds, 0), tp(num_thresholds, 0), fp(num_thresholds, 0);
  int64_t positives = 0;
  for (size_t f = 0; f < folds.size(); ++f) {
    for (int64_t i = folds[f].first; i < folds[f].second; ++i) {
      const bool same = issame[static_cast<size_t>(i)];
      positives += same ? 1 : 0;
      for (size_t j = 0; j < num_thresholds; ++j) {
        const bool predict_same = dist[static_cast<size_t>(i)] < thresholds[j];
        fold_correct[f][j] += predict_same == same ? 1 : 0;
        tp[j] += (predict_same && same) ? 1 : 0;
        fp[j] += (predict_same && !same) ? 1 : 0;
      }
    }
    for (size_t j = 0; j < num_thresholds; ++j) total_correct[j] += fold_correct[f][j];
  }
  const int64_t negatives = pairs - positives;

  VerificationResult r;
  for (size_t f = 0; f < folds.size(); ++f) {
    size_t best = 0;
    for (size_t j = 1; j < num_thresholds; ++j) {
      if (total_correct[j] - fold_correct[f][j] > total_correct[best] - fold_correct[f][best]) best = j;
    }
    const int64_t fold_size = folds[f].second - folds[f].first;
    r.fold_thresholds.push_back(thresholds[best]);
    r.fold_accuracies.push_back(static_cast<double>(fold_correct[f][best]) / static_cast<double>(fold_size));
  }
  double sum = 0, threshold_sum = 0;
  for (size_t f = 0; f < folds.size(); ++f) {
    sum += r.fold_accuracies[f];
    threshold_sum += r.fold_thresholds[f];
  }
  r.accuracy_mean = sum / static_cast<double>(folds.size());
  r.best_threshold = threshold_sum / static_cast<double>(folds.size());
  double var = 0;
  for (double a : r.fold_accuracies) var += (a - r.accuracy_mean) * (a - r.accuracy_mean);
  r.accuracy_std = std::sqrt(var / static_cast<double>(folds.size()));  // ddof = 0, as np.std

  r.thresholds = thresholds;
  r.tpr.resize(num_thresholds);
  r.fpr.resize(num_thresholds);
  for (size_t j = 0; j < num_thresholds; ++j) {
    r.tpr[j] = positives == 0 ? 0.0 : static_cast<double>(tp[j]) / static_cast<double>(positives);
    r.fpr[j] = negatives == 0 ? 0.0 : static_cast<double>(fp[j]) / static_cast<double>(negatives);
  }
  return r;
}

VerificationResult evaluate_embeddings(const Tensor& embeddings, const std::vector<bool>& issame, int num_folds) {
  FF_CHECK(embeddings.defined(), "evaluate_embeddings: embeddings tensor is undefined");
  FF_CHECK(embeddings.dim() == 2 && is_floating(embeddings.dtype()),
           "evaluate_embeddings: expected floating embeddings [2P, D], got {}", embeddings.describe());
  const int64_t rows = embeddings.size(0), dim = embeddings.size(1);
  FF_CHECK(rows == 2 * static_cast<int64_t>(issame.size()),
           "evaluate_embeddings: {} embedding rows for {} pairs (need 2 per pair)", rows, issame.size());
  const Tensor host = embeddings.detach().to(Device()).to(DType::Float64).contiguous();
  std::vector<double> e(host.data<double>(), host.data<double>() + rows * dim);

  double norm_sum = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double sq = 0;
    for (int64_t k = 0; k < dim; ++k) sq += e[static_cast<size_t>(r * dim + k)] * e[static_cast<size_t>(r * dim + k)];
    norm_sum += std::sqrt(sq);
  }
  l2_normalize_rows(e, rows, dim);
  VerificationResult result = evaluate_distances(pair_distances(e, rows, dim), issame, num_folds);
  result.xnorm = rows == 0 ? 0.0 : norm_sum / static_cast<double>(rows);
  return result;
}

}  // namespace ff::apps
