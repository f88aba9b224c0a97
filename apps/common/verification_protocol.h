// The pure arithmetic of the verification protocol (verification_eval.h; formats.md §2.5), split
// out so that tests can feed hand-made distances and check each step on paper.
//
//   distances d[i] = ||e[2i] - e[2i+1]||^2 of L2-normalised embeddings, in [0, 4];
//   prediction "same" when d[i] < threshold (strict), thresholds i * 0.01 for i = 0..399;
//   accuracy = (TP + TN) / n; folds are sklearn KFold(num_folds, shuffle=False).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "apps/common/verification_eval.h"

namespace ff::apps {

// numpy.arange(0, 4, 0.01): 400 values, element i computed as i * 0.01 (as numpy does).
const std::vector<double>& verification_thresholds();

// The held-out fold ranges [begin, end) of sklearn KFold(num_folds, shuffle=False) over n items:
// contiguous, sizes n / num_folds, the first n % num_folds folds one larger.
// Requires 2 <= num_folds <= n (sklearn's own condition).
std::vector<std::pair<int64_t, int64_t>> kfold_test_ranges(int64_t n, int num_folds);

// Rows of `embeddings` ([rows, dim] row-major float64) scaled to unit L2 norm in place; an
// all-zero row stays zero (sklearn.preprocessing.normalize).
void l2_normalize_rows(std::vector<double>& embeddings, int64_t rows, int64_t dim);

// Squared L2 distance between rows 2i and 2i+1 of `embeddings` ([2P, dim] row-major): P values.
std::vector<double> pair_distances(const std::vector<double>& embeddings, int64_t rows, int64_t dim);

// The 10-fold protocol and the all-pairs ROC on precomputed pair distances (P = dist.size() =
// issame.size()). Fills everything in VerificationResult except xnorm.
VerificationResult evaluate_distances(const std::vector<double>& dist, const std::vector<bool>& issame,
                                      int num_folds = 10);

}  // namespace ff::apps
