// Known-answer tests of the 10-fold verification protocol (apps/common/verification_protocol.h).
// Every expected number is derived by hand in the comment above it. Distances are chosen half
// way between grid points (x.xx5) so that no comparison "d < i * 0.01" sits on a rounding edge:
// a same pair at d = 0.255 is predicted "same" from threshold index 26 (0.26) upwards, a
// different pair at d = 2.005 is predicted correctly up to index 200 (2.00).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "apps/common/verification_protocol.h"
#include "framework/common/check.h"

namespace ff::apps {
namespace {

TEST(VerificationProtocol, ThresholdsAreNumpyArange) {
  const auto& t = verification_thresholds();
  ASSERT_EQ(t.size(), 400u);
  EXPECT_EQ(t[0], 0.0);
  EXPECT_NEAR(t[1], 0.01, 1e-15);
  EXPECT_NEAR(t[399], 3.99, 1e-12);
}

TEST(VerificationProtocol, KFoldRangesMatchSklearn) {
  // 23 pairs: 23 / 10 = 2 per fold, 23 % 10 = 3 first folds get one more.
  const auto r = kfold_test_ranges(23, 10);
  const std::vector<std::pair<int64_t, int64_t>> expected{{0, 3},   {3, 6},   {6, 9},   {9, 11},  {11, 13},
                                                          {13, 15}, {15, 17}, {17, 19}, {19, 21}, {21, 23}};
  EXPECT_EQ(r, expected);
  // 6000 pairs (LFW): 600 each.
  const auto lfw = kfold_test_ranges(6000, 10);
  for (int f = 0; f < 10; ++f) EXPECT_EQ(lfw[f], std::make_pair(int64_t{600} * f, int64_t{600} * (f + 1)));
  EXPECT_THROW(kfold_test_ranges(9, 10), Error);  // fewer pairs than folds
  EXPECT_THROW(kfold_test_ranges(20, 1), Error);
}

// 20 pairs, alternating same (d = 0.505) / different (d = 1.505): every training split is
// separated perfectly by thresholds 0.51 .. 1.50 (indices 51..150); the first of them is taken.
// Every fold scores 2/2 => mean 1, std 0, threshold 0.51.
TEST(VerificationProtocol, SeparablePairs) {
  std::vector<double> dist;
  std::vector<bool> same;
  for (int i = 0; i < 20; ++i) {
    same.push_back(i % 2 == 0);
    dist.push_back(i % 2 == 0 ? 0.505 : 1.505);
  }
  const VerificationResult r = evaluate_distances(dist, same);
  EXPECT_DOUBLE_EQ(r.accuracy_mean, 1.0);
  EXPECT_DOUBLE_EQ(r.accuracy_std, 0.0);
  EXPECT_NEAR(r.best_threshold, 0.51, 1e-12);
  ASSERT_EQ(r.fold_accuracies.size(), 10u);
  ASSERT_EQ(r.fold_thresholds.size(), 10u);
  for (double t : r.fold_thresholds) EXPECT_NEAR(t, 0.51, 1e-12);
}

// 23 pairs (not divisible by 10): folds [0,3) [3,6) [6,9) then 2 pairs each up to 23.
// Even pairs are "same" at d = 0.255, odd pairs "different" at d = 2.005, except pair 0, a
// same pair at d = 3.005 (an outlier no useful threshold accepts).
//   fold 0: training pairs 3..22 are clean, correct for indices 26..200; first best 26 (0.26).
//           Test pairs 0 (same, 3.005 >= 0.26 -> "different": wrong), 1 and 2 right: 2/3.
//   folds 1..9: training includes pair 0. Indices 26..200 make one error (pair 0); indices
//           >= 301 fix pair 0 but break every training "different" pair; so the best is again
//           the first of 26..200 -> 0.26, and the clean test folds score 1.
//   mean = (2/3 + 9) / 10 = 29/30. Deviations: 2/3 - 29/30 = -9/30, 1 - 29/30 = 1/30;
//   variance = ((9/30)^2 + 9 (1/30)^2) / 10 = (81 + 9) / 900 / 10 = 0.01 => std = 0.1.
TEST(VerificationProtocol, UnevenFoldsGivePopulationStd) {
  std::vector<double> dist;
  std::vector<bool> same;
  for (int i = 0; i < 23; ++i) {
    same.push_back(i % 2 == 0);
    dist.push_back(i % 2 == 0 ? 0.255 : 2.005);
  }
  dist[0] = 3.005;
  const VerificationResult r = evaluate_distances(dist, same);
  ASSERT_EQ(r.fold_accuracies.size(), 10u);
  EXPECT_NEAR(r.fold_accuracies[0], 2.0 / 3.0, 1e-12);
  for (int f = 1; f < 10; ++f) EXPECT_DOUBLE_EQ(r.fold_accuracies[f], 1.0) << "fold " << f;
  EXPECT_NEAR(r.accuracy_mean, 29.0 / 30.0, 1e-12);
  EXPECT_NEAR(r.accuracy_std, 0.1, 1e-12);  // ddof = 0; the sample std would be 0.10541
  for (double t : r.fold_thresholds) EXPECT_NEAR(t, 0.26, 1e-12);
  EXPECT_NEAR(r.best_threshold, 0.26, 1e-12);
}

// "First best" decides the held-out result. 10 pairs, one per fold:
//   pairs 0,2,4,6,8 same at d = 0.105; pairs 1,3,5,7 different at d = 3.505; pair 9 same at 1.005.
//   folds 0..8: training holds pair 9, so indices 101..350 are all correct (1.005 < 1.01 and
//               3.505 >= 3.50); first best 1.01; the test pair is clean -> 1.
//   fold 9: training pairs 0..8 are all correct for indices 11..350: the FIRST is 0.11, at which
//           the test pair 9 (same, 1.005) is called "different" -> 0. (The last best, 3.50,
//           would have accepted it.)
//   mean 0.9; deviations 0.1 (x9) and -0.9: variance (9 * 0.01 + 0.81) / 10 = 0.09 => std 0.3.
//   threshold = (9 * 1.01 + 0.11) / 10 = 0.92.
// ROC over all 10 pairs (6 same, 4 different), "same" when d < t:
//   t = 0.11: 5 of 6 same accepted -> tpr 5/6, fpr 0;  t = 1.01: tpr 1, fpr 0;
//   t = 3.50: fpr 0;  t = 3.51: fpr 1;  t = 0: nothing accepted -> tpr 0, fpr 0.
TEST(VerificationProtocol, FirstBestThresholdAndRoc) {
  std::vector<double> dist;
  std::vector<bool> same;
  for (int i = 0; i < 9; ++i) {
    same.push_back(i % 2 == 0);
    dist.push_back(i % 2 == 0 ? 0.105 : 3.505);
  }
  same.push_back(true);
  dist.push_back(1.005);
  const VerificationResult r = evaluate_distances(dist, same);
  for (int f = 0; f < 9; ++f) {
    EXPECT_DOUBLE_EQ(r.fold_accuracies[f], 1.0) << "fold " << f;
    EXPECT_NEAR(r.fold_thresholds[f], 1.01, 1e-12) << "fold " << f;
  }
  EXPECT_DOUBLE_EQ(r.fold_accuracies[9], 0.0);
  EXPECT_NEAR(r.fold_thresholds[9], 0.11, 1e-12);
  EXPECT_NEAR(r.accuracy_mean, 0.9, 1e-12);
  EXPECT_NEAR(r.accuracy_std, 0.3, 1e-12);
  EXPECT_NEAR(r.best_threshold, 0.92, 1e-12);

  ASSERT_EQ(r.thresholds.size(), 400u);
  ASSERT_EQ(r.tpr.size(), 400u);
  ASSERT_EQ(r.fpr.size(), 400u);
  EXPECT_DOUBLE_EQ(r.tpr[0], 0.0);
  EXPECT_DOUBLE_EQ(r.fpr[0], 0.0);
  EXPECT_NEAR(r.tpr[11], 5.0 / 6.0, 1e-12);
  EXPECT_DOUBLE_EQ(r.fpr[11], 0.0);
  EXPECT_DOUBLE_EQ(r.tpr[101], 1.0);
  EXPECT_DOUBLE_EQ(r.fpr[350], 0.0);
  EXPECT_DOUBLE_EQ(r.fpr[351], 1.0);
  // Rates never decrease with the threshold.
  for (size_t j = 1; j < 400; ++j) {
    EXPECT_GE(r.tpr[j], r.tpr[j - 1]);
    EXPECT_GE(r.fpr[j], r.fpr[j - 1]);
  }
}

// evaluate_embeddings normalises rows (a zero row stays zero) and scores rows 2i / 2i+1.
// 10 pairs of 2-D vectors:
//   same pairs 0,2,4,6,8:   (3,4) and (6,8)  -> both (0.6,0.8), d = 0;   norms 5 + 10
//   different 1,3,5,7:      (1,0) and (0,2)  -> (1,0),(0,1),     d = 2;   norms 1 + 2
//   different 9:            (0,0) and (0,7)  -> (0,0),(0,1),     d = 1;   norms 0 + 7
// XNorm (mean row norm of what is passed) = (5 * 15 + 4 * 3 + 7) / 20 = 94 / 20 = 4.7.
// Every training split is perfect from index 1 (0.01, d = 0 < 0.01) to 100 (1.00, d = 1 is not
// < 1.00): threshold 0.01, accuracy 1 in every fold. ROC at 1.50: 1 of 5 different pairs
// (pair 9) accepted -> fpr 0.2; at 3.00 all are -> fpr 1.
TEST(VerificationProtocol, EmbeddingsAreNormalisedAndPaired) {
  std::vector<float> values;
  std::vector<bool> same;
  for (int i = 0; i < 10; ++i) {
    if (i == 9) {
      values.insert(values.end(), {0, 0, 0, 7});
      same.push_back(false);
    } else if (i % 2 == 0) {
      values.insert(values.end(), {3, 4, 6, 8});
      same.push_back(true);
    } else {
      values.insert(values.end(), {1, 0, 0, 2});
      same.push_back(false);
    }
  }
  Tensor e = Tensor::empty({20, 2}, DType::Float32);
  std::copy(values.begin(), values.end(), e.data<float>());
  const VerificationResult r = evaluate_embeddings(e, same);
  EXPECT_NEAR(r.xnorm, 4.7, 1e-12);
  EXPECT_DOUBLE_EQ(r.accuracy_mean, 1.0);
  EXPECT_DOUBLE_EQ(r.accuracy_std, 0.0);
  EXPECT_NEAR(r.best_threshold, 0.01, 1e-12);
  EXPECT_DOUBLE_EQ(r.tpr[1], 1.0);
  EXPECT_DOUBLE_EQ(r.fpr[150], 0.2);
  EXPECT_DOUBLE_EQ(r.fpr[300], 1.0);

  // float64 input gives the same answer.
  const VerificationResult r64 = evaluate_embeddings(e.to(DType::Float64), same);
  EXPECT_EQ(r64.fold_accuracies, r.fold_accuracies);
  EXPECT_EQ(r64.tpr, r.tpr);
}

TEST(VerificationProtocol, BadInputsAreErrors) {
  Tensor e = Tensor::empty({20, 2}, DType::Float32);
  e.fill_(1.0);
  // Rows must be 2 per pair.
  EXPECT_THROW(evaluate_embeddings(e, std::vector<bool>(9, true)), Error);
  // Fewer pairs than folds.
  EXPECT_THROW(evaluate_embeddings(e.narrow(0, 0, 8), std::vector<bool>(4, true)), Error);
  // Not 2-D / not floating.
  EXPECT_THROW(evaluate_embeddings(e.view({40}), std::vector<bool>(10, true)), Error);
  EXPECT_THROW(evaluate_embeddings(e.to(DType::Int64), std::vector<bool>(10, true)), Error);
  // Mismatched distance / label counts and non-finite distances name the problem.
  EXPECT_THROW(evaluate_distances(std::vector<double>(10, 1.0), std::vector<bool>(11, true)), Error);
  std::vector<double> d(10, 1.0);
  d[4] = std::nan("");
  try {
    evaluate_distances(d, std::vector<bool>(10, true));
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("pair 4"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace ff::apps
