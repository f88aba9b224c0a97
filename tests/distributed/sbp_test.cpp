// The SBP value type and the balanced split arithmetic.
#include "framework/distributed/sbp.h"

#include <gtest/gtest.h>

#include <numeric>

#include "framework/common/check.h"

namespace ff {
namespace {

using distributed::BalancedSplitter;
using distributed::Sbp;

TEST(Sbp, KindsAxisAndNames) {
  EXPECT_TRUE(Sbp::split(1).is_split());
  EXPECT_EQ(Sbp::split(1).axis(), 1);
  EXPECT_TRUE(Sbp::broadcast().is_broadcast());
  EXPECT_TRUE(Sbp::partial_sum().is_partial_sum());
  EXPECT_EQ(Sbp::split(2).str(), "S(2)");
  EXPECT_EQ(Sbp::broadcast().str(), "B");
  EXPECT_EQ(Sbp::partial_sum().str(), "P");
  EXPECT_THROW(Sbp::broadcast().axis(), Error);
  EXPECT_THROW(Sbp::split(-1), Error);
}

TEST(Sbp, EqualityParseAndDual) {
  EXPECT_EQ(Sbp::split(0), Sbp::split(0));
  EXPECT_NE(Sbp::split(0), Sbp::split(1));
  EXPECT_NE(Sbp::broadcast(), Sbp::partial_sum());
  for (const Sbp& s : {Sbp::split(0), Sbp::split(3), Sbp::broadcast(), Sbp::partial_sum()}) {
    EXPECT_EQ(Sbp::parse(s.str()), s);
  }
  EXPECT_EQ(Sbp::parse("split(1)"), Sbp::split(1));
  EXPECT_EQ(Sbp::parse("broadcast"), Sbp::broadcast());
  EXPECT_EQ(Sbp::parse("partial_sum"), Sbp::partial_sum());
  for (const char* bad : {"", "S", "S()", "S(-1)", "S(1", "S(x)", "Q", "b"}) EXPECT_THROW(Sbp::parse(bad), Error) << bad;
  // Gradients: S stays S, B <-> P.
  EXPECT_EQ(Sbp::split(2).dual(), Sbp::split(2));
  EXPECT_EQ(Sbp::broadcast().dual(), Sbp::partial_sum());
  EXPECT_EQ(Sbp::partial_sum().dual(), Sbp::broadcast());
}

TEST(BalancedSplitter, RemaindersGoToTheFirstRanks) {
  const BalancedSplitter s(10, 3);
  EXPECT_EQ(s.sizes(), (std::vector<int64_t>{4, 3, 3}));
  EXPECT_EQ(s.start(0), 0);
  EXPECT_EQ(s.start(1), 4);
  EXPECT_EQ(s.start(2), 7);
  EXPECT_EQ(s.end(2), 10);
  EXPECT_EQ(BalancedSplitter(2, 3).sizes(), (std::vector<int64_t>{1, 1, 0}));  // empty shard
  EXPECT_EQ(BalancedSplitter(2, 3).start(2), 2);
  EXPECT_EQ(BalancedSplitter(0, 2).sizes(), (std::vector<int64_t>{0, 0}));
}

TEST(BalancedSplitter, MatchesPartialFcShardFormulaAndTilesTheRange) {
  for (int64_t total : {0, 1, 5, 7, 93, 360232}) {
    for (int64_t parts : {1, 2, 3, 8}) {
      const BalancedSplitter s(total, parts);
      int64_t next = 0;
      for (int64_t r = 0; r < parts; ++r) {
        // partial_fc_v2: num_local = C // P + (rank < C % P); class_start = C // P * rank + min(rank, C % P)
        EXPECT_EQ(s.size(r), total / parts + (r < total % parts ? 1 : 0));
        EXPECT_EQ(s.start(r), total / parts * r + std::min(r, total % parts));
        EXPECT_EQ(s.start(r), next);
        next = s.end(r);
        EXPECT_LE(s.size(0) - s.size(r), 1);
      }
      EXPECT_EQ(next, total);
      const auto sizes = s.sizes();
      EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), int64_t{0}), total);
    }
  }
  EXPECT_THROW(BalancedSplitter(5, 0), Error);
  EXPECT_THROW(BalancedSplitter(-1, 2), Error);
  EXPECT_THROW(BalancedSplitter(5, 2).size(2), Error);
}

TEST(Sbp, LocalShape) {
  EXPECT_EQ(distributed::local_shape({5, 7}, Sbp::split(1), 1, 3), (Shape{5, 2}));
  EXPECT_EQ(distributed::local_shape({5, 7}, Sbp::split(0), 0, 3), (Shape{2, 7}));
  EXPECT_EQ(distributed::local_shape({5, 7}, Sbp::broadcast(), 2, 3), (Shape{5, 7}));
  EXPECT_EQ(distributed::local_shape({5, 7}, Sbp::partial_sum(), 2, 3), (Shape{5, 7}));
  EXPECT_THROW(distributed::local_shape({5, 7}, Sbp::split(2), 0, 3), Error);
}

}  // namespace
}  // namespace ff
