// Rank sharding and per-epoch shuffling (ShardedSampler) and the counter-based RNG under it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "data/loader/counter_rng.h"
#include "data/loader/sampler.h"
#include "framework/common/check.h"

namespace ff::data {
namespace {

std::vector<std::vector<int64_t>> shards(int64_t n, int world, ShardPolicy policy, int64_t epoch, uint64_t seed = 1) {
  std::vector<std::vector<int64_t>> out;
  for (int r = 0; r < world; ++r) {
    SamplerOptions o;
    o.world_size = world;
    o.rank = r;
    o.seed = seed;
    o.policy = policy;
    ShardedSampler s(n, o);
    out.push_back(s.indices(epoch));
    EXPECT_EQ(static_cast<int64_t>(out.back().size()), s.num_samples()) << "n=" << n << " world=" << world;
  }
  return out;
}

const int64_t kSizes[] = {0, 1, 2, 3, 5, 7, 10, 11, 100, 101, 1000};

TEST(Sampler, UnevenCoversEveryRecordExactlyOncePerEpoch) {
  for (int64_t n : kSizes) {
    for (int world : {1, 2, 3}) {
      for (int64_t epoch : {0, 1, 5}) {
        std::map<int64_t, int> seen;
        size_t min_len = SIZE_MAX, max_len = 0;
        for (const auto& shard : shards(n, world, ShardPolicy::Uneven, epoch)) {
          for (int64_t i : shard) ++seen[i];
          min_len = std::min(min_len, shard.size());
          max_len = std::max(max_len, shard.size());
        }
        ASSERT_EQ(static_cast<int64_t>(seen.size()), n) << "n=" << n << " world=" << world;
        for (const auto& [index, count] : seen) {
          ASSERT_TRUE(index >= 0 && index < n);
          ASSERT_EQ(count, 1) << "record " << index << " n=" << n << " world=" << world;
        }
        EXPECT_LE(max_len - min_len, 1u);
      }
    }
  }
}

TEST(Sampler, DropTailGivesEqualDisjointShares) {
  for (int64_t n : kSizes) {
    for (int world : {1, 2, 3}) {
      std::set<int64_t> seen;
      for (const auto& shard : shards(n, world, ShardPolicy::DropTail, 3)) {
        ASSERT_EQ(static_cast<int64_t>(shard.size()), n / world);
        for (int64_t i : shard) ASSERT_TRUE(seen.insert(i).second) << "record " << i << " on two ranks";
      }
      EXPECT_EQ(static_cast<int64_t>(seen.size()), n / world * world);
    }
  }
}

TEST(Sampler, DropTailDropsDifferentRecordsInDifferentEpochs) {
  std::set<int64_t> dropped_over_epochs;
  for (int64_t epoch = 0; epoch < 20; ++epoch) {
    std::set<int64_t> seen;
    for (const auto& shard : shards(101, 3, ShardPolicy::DropTail, epoch)) seen.insert(shard.begin(), shard.end());
    ASSERT_EQ(seen.size(), 99u);
    for (int64_t i = 0; i < 101; ++i) {
      if (!seen.count(i)) dropped_over_epochs.insert(i);
    }
  }
  EXPECT_GT(dropped_over_epochs.size(), 10u);  // 2 per epoch, not always the same two
}

TEST(Sampler, PadSeesEveryRecordWithEqualShares) {
  for (int64_t n : kSizes) {
    for (int world : {1, 2, 3}) {
      std::map<int64_t, int> seen;
      int64_t total = 0;
      for (const auto& shard : shards(n, world, ShardPolicy::Pad, 2)) {
        ASSERT_EQ(static_cast<int64_t>(shard.size()), (n + world - 1) / world);
        for (int64_t i : shard) ++seen[i];
        total += static_cast<int64_t>(shard.size());
      }
      EXPECT_EQ(static_cast<int64_t>(seen.size()), n);
      EXPECT_EQ(total - n, n == 0 ? 0 : (world - n % world) % world);  // the padding repeats
    }
  }
}

TEST(Sampler, EpochsAndSeedsGiveDifferentOrders) {
  SamplerOptions o;
  o.seed = 42;
  ShardedSampler s(1000, o);
  EXPECT_EQ(s.indices(0), s.indices(0));
  EXPECT_NE(s.indices(0), s.indices(1));
  EXPECT_NE(s.indices(1), s.indices(2));
  SamplerOptions other = o;
  other.seed = 43;
  EXPECT_NE(ShardedSampler(1000, other).indices(0), s.indices(0));
  // A permutation, and not the identity.
  std::vector<int64_t> sorted = s.indices(0);
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_NE(sorted, s.indices(0));
}

TEST(Sampler, NoShuffleIsStridedIdentity) {
  SamplerOptions o;
  o.shuffle = false;
  o.world_size = 3;
  o.rank = 1;
  o.policy = ShardPolicy::Uneven;
  EXPECT_EQ(ShardedSampler(8, o).indices(7), (std::vector<int64_t>{1, 4, 7}));
}

TEST(Sampler, ShufflesUniformly) {
  // Where record 0 lands over many epochs: each of 10 positions ~ 1/10 of the time.
  SamplerOptions o;
  ShardedSampler s(10, o);
  std::vector<int> position_counts(10, 0);
  const int epochs = 5000;
  for (int e = 0; e < epochs; ++e) {
    const auto perm = s.permutation(e);
    ++position_counts[std::find(perm.begin(), perm.end(), 0) - perm.begin()];
  }
  for (int c : position_counts) EXPECT_NEAR(c, epochs / 10, 5 * std::sqrt(epochs * 0.09));
}

TEST(Sampler, RejectsBadOptions) {
  SamplerOptions o;
  o.world_size = 2;
  o.rank = 2;
  EXPECT_THROW(ShardedSampler(10, o), Error);
  o.world_size = 0;
  o.rank = 0;
  EXPECT_THROW(ShardedSampler(10, o), Error);
}

TEST(CounterRng, BelowIsInRangeAndStreamsAreIndependent) {
  CounterRng a(1, 0), b(1, 0), c(1, 1);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = a.below(7);
    ASSERT_LT(x, 7u);
    ASSERT_EQ(x, b.below(7));
  }
  CounterRng d(1, 0);
  int same = 0;
  for (int i = 0; i < 100; ++i) same += d.next_u32() == c.next_u32();
  EXPECT_LT(same, 3);
}

}  // namespace
}  // namespace ff::data
