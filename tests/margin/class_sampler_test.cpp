// Partial FC sharding and class sampling (single process; the multi-rank behaviour is in
// tests/mpi_partial_fc/).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "models/heads/class_sampler.h"
#include "tests/margin/margin_test_util.h"

namespace ff {
namespace {

using margin_test::throws_error_with;

TEST(ClassShard, BalancedContiguousForAnyClassCount) {
  for (int64_t classes = 1; classes <= 40; ++classes) {
    for (int world = 1; world <= 8; ++world) {
      int64_t next = 0, lo = classes, hi = 0;
      for (int r = 0; r < world; ++r) {
        const heads::ClassShard s = heads::class_shard(classes, world, r);
        ASSERT_EQ(s.start, next) << classes << " classes, rank " << r << " of " << world;
        next += s.count;
        lo = std::min(lo, s.count), hi = std::max(hi, s.count);
        // The remainder goes one each to the first ranks.
        EXPECT_EQ(s.count, classes / world + (r < classes % world ? 1 : 0));
      }
      EXPECT_EQ(next, classes);
      EXPECT_LE(hi - lo, 1);
    }
  }
  EXPECT_TRUE(throws_error_with([] { heads::class_shard(10, 2, 2); }, {"rank 2", "world of 2"}));
  EXPECT_TRUE(throws_error_with([] { heads::class_shard(0, 2, 0); }, {"num_classes"}));
}

TEST(ClassSampler, CountsFollowArcfaceTorchRounding) {
  EXPECT_EQ(heads::sampled_count(93431, 1.0), 93431);
  EXPECT_EQ(heads::sampled_count(257487, 0.2), 51497);  // WebFace42M / 8 ranks, PFC-0.2
  EXPECT_EQ(heads::sampled_count(10, 0.25), 2);         // int(2.5)
  EXPECT_EQ(heads::sampled_count(10, 0.0), 0);
  EXPECT_TRUE(throws_error_with([] { heads::sampled_count(10, 1.5); }, {"sample_rate", "1.5"}));
}

TEST(ClassSampler, KeepsPositivesFillsWithNegativesAndMapsLabels) {
  const heads::ClassShard shard{1000, 5000};
  const std::vector<int64_t> labels = {1000, 5999, 3000, 42, 3000, 9000, 1500};
  const heads::ClassSample s = heads::sample_classes(labels, shard, 0.1, 2048, 3);
  ASSERT_EQ(s.local_rows.size(), 500u);
  EXPECT_EQ(s.num_positive, 4);
  EXPECT_TRUE(std::is_sorted(s.local_rows.begin(), s.local_rows.end()));
  EXPECT_EQ(std::set<int64_t>(s.local_rows.begin(), s.local_rows.end()).size(), 500u);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (!shard.owns(labels[i])) {
      EXPECT_EQ(s.mapped_labels[i], -1);
      continue;
    }
    ASSERT_GE(s.mapped_labels[i], 0);
    EXPECT_EQ(s.local_rows[s.mapped_labels[i]], labels[i] - shard.start) << "row " << i;
  }
  // The negatives are spread over the shard (keys are uniform): mean id near the middle.
  const double mean = std::accumulate(s.local_rows.begin(), s.local_rows.end(), 0.0) / 500.0;
  EXPECT_NEAR(mean, 2500.0, 300.0);
  // Deterministic in (seed, step); a new step draws new negatives.
  EXPECT_EQ(heads::sample_classes(labels, shard, 0.1, 2048, 3).local_rows, s.local_rows);
  const auto other = heads::sample_classes(labels, shard, 0.1, 2048, 4).local_rows;
  std::vector<int64_t> common;
  std::set_intersection(other.begin(), other.end(), s.local_rows.begin(), s.local_rows.end(),
                        std::back_inserter(common));
  EXPECT_LT(common.size(), 100u);  // ~10% overlap expected by chance, plus the 4 positives
}

TEST(ClassSampler, MorePositivesThanTheBudgetKeepsExactlyThePositives) {
  const heads::ClassShard shard{0, 20};
  const std::vector<int64_t> labels = {19, 3, 7, 3, 11};
  const heads::ClassSample s = heads::sample_classes(labels, shard, 0.1, 1, 0);  // budget 2 < 4 positives
  EXPECT_EQ(s.local_rows, (std::vector<int64_t>{3, 7, 11, 19}));
  EXPECT_EQ(s.mapped_labels, (std::vector<int64_t>{3, 0, 1, 0, 2}));
  const heads::ClassSample all = heads::sample_classes(labels, shard, 1.0, 1, 0);
  EXPECT_TRUE(all.all);
  EXPECT_EQ(all.local_rows.size(), 20u);
  EXPECT_EQ(all.mapped_labels, (std::vector<int64_t>{19, 3, 7, 3, 11}));
}

}  // namespace
}  // namespace ff
