// The trainer's checkpoint directory: atomic commit (a failing write leaves the previous
// checkpoint and `latest` intact) and re-sharding of the FC rows on load.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "apps/common/trainer_checkpoint.h"
#include "framework/common/check.h"
#include "framework/distributed/communicator.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"
#include "tests/apps_train/train_test_util.h"

namespace ff::apps {
namespace {

using testing::fs::exists;
using testing::fs::is_directory;
using testing::temp_dir;

std::vector<float> host(const Tensor& t) { return to_vector<float>(t); }

void write_marker(const std::string& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir + "/" + name) << text;
}

TEST(TrainCheckpoint, AFailingWriteLeavesThePreviousCheckpointAndLatestIntact) {
  const std::string out = temp_dir("atomic");
  auto& comm = distributed::world();
  const std::string first = commit_checkpoint(out, 5, comm, [](const std::string& tmp) { write_marker(tmp, "a", "five"); });
  EXPECT_EQ(first, out + "/checkpoint_step5");
  EXPECT_EQ(latest_checkpoint(out), first);

  // The second save dies after writing part of its files.
  try {
    commit_checkpoint(out, 9, comm, [](const std::string& tmp) {
      write_marker(tmp, "a", "nine");
      FF_THROW("disk full while writing {}/b", tmp);
    });
    FAIL() << "expected ff::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("checkpoint step 9 was not saved"), std::string::npos) << what;
    EXPECT_NE(what.find("disk full"), std::string::npos) << what;
  }
  EXPECT_EQ(latest_checkpoint(out), first);
  EXPECT_EQ(testing::read_text(first + "/a"), "five");
  EXPECT_FALSE(exists(out + "/checkpoint_step9"));
  EXPECT_FALSE(exists(out + "/.checkpoint_step9.tmp"));  // no debris

  // A crash (not an exception) leaves a stale temporary directory: the next save replaces it.
  testing::fs::create_directories(out + "/.checkpoint_step9.tmp");
  write_marker(out + "/.checkpoint_step9.tmp", "stale", "x");
  const std::string third = commit_checkpoint(out, 9, comm, [](const std::string& tmp) { write_marker(tmp, "a", "nine"); });
  EXPECT_EQ(latest_checkpoint(out), third);
  EXPECT_FALSE(exists(third + "/stale"));
  EXPECT_EQ(testing::read_text(third + "/a"), "nine");
  // Saving the same step again replaces it whole.
  commit_checkpoint(out, 9, comm, [](const std::string& tmp) { write_marker(tmp, "b", "again"); });
  EXPECT_FALSE(exists(third + "/a"));
  EXPECT_TRUE(exists(third + "/b"));
  EXPECT_TRUE(is_directory(first));  // older checkpoints are kept
}

TEST(TrainCheckpoint, LatestNamingAMissingDirectoryIsAnError) {
  const std::string out = temp_dir("latest_missing");
  EXPECT_EQ(latest_checkpoint(out), "");
  write_marker(out, "latest", "checkpoint_step7\n");
  try {
    latest_checkpoint(out);
    FAIL() << "expected ff::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint_step7, which does not exist"), std::string::npos) << e.what();
  }
}

// Three "ranks" saved rows [0, 4), [4, 7), [7, 10) of a 10 x 3 class matrix with momentum.
struct SavedShards {
  std::string dir;
  Tensor weight, momentum;  // the full [10, 3] matrices
};

SavedShards save_three_shards() {
  SavedShards s;
  s.dir = temp_dir("shards");
  Generator g(4);
  s.weight = randn({10, 3}, DType::Float32, Device(), &g);
  s.momentum = randn({10, 3}, DType::Float32, Device(), &g);
  const std::vector<std::pair<int64_t, int64_t>> ranges = {{0, 4}, {4, 7}, {7, 10}};
  for (const auto& [b, e] : ranges) {
    FcShardState shard;
    shard.row_begin = b;
    shard.row_end = e;
    shard.num_classes = 10;
    shard.weight = s.weight.narrow(0, b, e - b).contiguous();
    shard.optimizer["state.0.0.momentum_buffer"] = s.momentum.narrow(0, b, e - b).contiguous();
    shard.optimizer["step_count"] = full({}, 12.0, DType::Int64);
    shard.optimizer["param_groups.0.param_numel"] = tensor_from(std::vector<int64_t>{(e - b) * 3}, {1});
    write_fc_shard(s.dir, shard);
  }
  return s;
}

TEST(TrainCheckpoint, FcRowsAreReshardedFromAnyNumberOfShards) {
  const SavedShards s = save_three_shards();
  // One rank: every row, equal to the shards concatenated.
  const FcShardState all = read_fc_rows(s.dir, 0, 10, 10);
  EXPECT_EQ(host(all.weight), host(s.weight));
  EXPECT_EQ(host(all.optimizer.at("state.0.0.momentum_buffer")), host(s.momentum));
  EXPECT_EQ(all.optimizer.at("step_count").item<int64_t>(), 12);
  // Two ranks: [0, 5) and [5, 10) straddle the saved boundaries.
  for (const auto& [b, e] : std::vector<std::pair<int64_t, int64_t>>{{0, 5}, {5, 10}, {3, 8}}) {
    const FcShardState part = read_fc_rows(s.dir, b, e, 10);
    EXPECT_EQ(host(part.weight), host(s.weight.narrow(0, b, e - b))) << b << ".." << e;
    EXPECT_EQ(host(part.optimizer.at("state.0.0.momentum_buffer")), host(s.momentum.narrow(0, b, e - b)));
  }
}

TEST(TrainCheckpoint, MissingOrMismatchedShardsAreReported) {
  const SavedShards s = save_three_shards();
  testing::fs::remove(s.dir + "/fc_rows_4_7.safetensors");
  EXPECT_NO_THROW(read_fc_rows(s.dir, 0, 4, 10));  // the rows that are there still load
  try {
    read_fc_rows(s.dir, 0, 10, 10);
    FAIL() << "expected ff::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds class row 4"), std::string::npos) << e.what();
  }
  try {
    read_fc_rows(s.dir, 0, 4, 12);
    FAIL() << "expected ff::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("saved for 10 classes, the run has 12"), std::string::npos) << e.what();
  }
  const std::string empty = temp_dir("no_shards");
  EXPECT_THROW(read_fc_rows(empty, 0, 4, 10), Error);
}

TEST(TrainCheckpoint, PruningKeepsTheNewestLatestAndAnEarlierRunsLaterSteps) {
  const std::string out = temp_dir("prune");
  for (int step : {4, 8, 12, 16, 20, 24}) testing::fs::create_directories(out + "/checkpoint_step" + std::to_string(step));
  testing::fs::create_directories(out + "/.checkpoint_step28.tmp");
  testing::fs::create_directories(out + "/checkpoint_stepX");
  testing::fs::create_directories(out + "/other");
  // This run resumed from step 8 and has just saved step 16: steps 20 and 24 are the earlier
  // run's and stay; latest names step 4 (say, a user pointed it back by hand) and stays too.
  std::ofstream(out + "/latest") << "checkpoint_step4\n";
  std::vector<std::string> failures;
  EXPECT_EQ(prune_checkpoints(out, 16, 2, &failures), (std::vector<std::string>{out + "/checkpoint_step8"}));
  EXPECT_TRUE(failures.empty());
  for (int step : {4, 12, 16, 20, 24}) EXPECT_TRUE(is_directory(out + "/checkpoint_step" + std::to_string(step))) << step;
  EXPECT_FALSE(exists(out + "/checkpoint_step8"));
  for (const char* other : {"/.checkpoint_step28.tmp", "/checkpoint_stepX", "/other", "/latest"}) {
    EXPECT_TRUE(exists(out + other)) << other;
  }
  // keep 1: only the newest of this run; keep 0: nothing is deleted.
  EXPECT_EQ(prune_checkpoints(out, 16, 0, &failures), std::vector<std::string>{});
  EXPECT_EQ(prune_checkpoints(out, 16, 1, &failures), (std::vector<std::string>{out + "/checkpoint_step12"}));
  EXPECT_TRUE(is_directory(out + "/checkpoint_step16"));
  EXPECT_TRUE(is_directory(out + "/checkpoint_step4"));  // latest
}

}  // namespace
}  // namespace ff::apps
