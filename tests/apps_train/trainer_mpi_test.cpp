// build/apps/train on 2 ranks (mpirun, CPU): an interrupted + resumed run gives the losses of the
// uninterrupted one, and its 2-rank checkpoint resumes on 1 and on 3 ranks with the FC re-sharded.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <tuple>
#include <vector>

#include "apps/common/trainer.h"
#include "apps/common/trainer_checkpoint.h"
#include "framework/distributed/communicator.h"
#include "framework/io/safetensors.h"
#include "ops/shape/shape.h"
#include "tests/apps_train/train_test_util.h"

namespace ff::apps {
namespace {

using testing::launch_train;
using testing::step_losses;
using testing::temp_dir;

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.sizes() == b.sizes() &&
         std::memcmp(a.contiguous().raw_data(), b.contiguous().raw_data(), a.numel() * a.element_size()) == 0;
}

// The 2-rank runs, shared by the tests below: 8 images per rank, 5 steps per epoch.
class TwoRankTraining : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::kCanLaunchMpi) return;
    root_ = temp_dir("two_ranks");
    TrainConfig c = testing::tiny_config(root_ + "/unused");
    c.sample_rate = 1.0;
    c.warmup_epoch = 1;
    c.keep_checkpoints = 0;  // the tests below reload step 3 after the resumed run saved 5 and 6
    config_path_ = root_ + "/tiny.prototxt";
    std::ofstream(config_path_) << train_config_to_text(c);

    whole_ = root_ + "/whole";
    resumed_ = root_ + "/resumed";
    rc_whole_ = launch_train(2, config_path_, "--set logging.output=" + whole_ + " --set optimizer.max_steps=6",
                             root_ + "/whole.log");
    rc_first_ = launch_train(2, config_path_, "--set logging.output=" + resumed_ + " --set optimizer.max_steps=3",
                             root_ + "/first.log");
    rc_second_ = launch_train(2, config_path_,
                              "--set logging.output=" + resumed_ + " --set optimizer.max_steps=6 --set logging.resume=true",
                              root_ + "/second.log");
  }

  void SetUp() override {
    if (!testing::kCanLaunchMpi) GTEST_SKIP() << "built without MPI (no mpirun): multi-rank runs not possible";
  }

  static std::string root_, config_path_, whole_, resumed_;
  static int rc_whole_, rc_first_, rc_second_;
};

std::string TwoRankTraining::root_, TwoRankTraining::config_path_, TwoRankTraining::whole_, TwoRankTraining::resumed_;
int TwoRankTraining::rc_whole_ = -1, TwoRankTraining::rc_first_ = -1, TwoRankTraining::rc_second_ = -1;

TEST_F(TwoRankTraining, InterruptedAndResumedRunGivesTheUninterruptedLosses) {
  ASSERT_EQ(rc_whole_, 0) << testing::read_text(root_ + "/whole.log");
  ASSERT_EQ(rc_first_, 0) << testing::read_text(root_ + "/first.log");
  ASSERT_EQ(rc_second_, 0) << testing::read_text(root_ + "/second.log");
  // Rank 0 logged every step; the resumed directory has the first run's steps 1-3 and the
  // resumed run's 4-6.
  const auto whole = step_losses(whole_);
  const auto resumed = step_losses(resumed_);
  ASSERT_EQ(whole.size(), 6u);
  ASSERT_EQ(resumed.size(), 6u);
  for (int64_t step = 1; step <= 6; ++step) {
    ASSERT_TRUE(std::isfinite(whole.at(step)));
    EXPECT_EQ(resumed.at(step), whole.at(step)) << "step " << step;
  }
  EXPECT_NE(testing::read_text(root_ + "/second.log").find("resume: " + resumed_ + "/checkpoint_step3 (saved by 2 rank(s)"),
            std::string::npos)
      << testing::read_text(root_ + "/second.log");
  // Each rank wrote its shard of the 20 classes.
  EXPECT_TRUE(testing::fs::exists(whole_ + "/checkpoint_step6/fc_rows_0_10.safetensors"));
  EXPECT_TRUE(testing::fs::exists(whole_ + "/checkpoint_step6/fc_rows_10_20.safetensors"));
  const auto a = load_safetensors(whole_ + "/checkpoint_step6/fc_rows_10_20.safetensors");
  const auto b = load_safetensors(resumed_ + "/checkpoint_step6/fc_rows_10_20.safetensors");
  EXPECT_TRUE(same_bytes(a.tensors.at("weight"), b.tensors.at("weight")));
}

TEST_F(TwoRankTraining, TwoRankCheckpointResumesOnOneRankWithTheFcResharded) {
  ASSERT_EQ(rc_first_, 0) << testing::read_text(root_ + "/first.log");
  const std::string saved = resumed_ + "/checkpoint_step3";
  ASSERT_TRUE(testing::fs::exists(saved + "/fc_rows_0_10.safetensors"));

  // One rank, the same global batch (16): first a run that only loads and saves (max_steps = the
  // saved step), so its checkpoint shows exactly what the single rank loaded.
  const std::string one = temp_dir("one_rank");
  TrainConfig c = testing::tiny_config(one);
  c.sample_rate = 1.0;
  c.warmup_epoch = 1;
  c.batch_size = 16;
  c.max_steps = 3;
  const TrainSummary loaded = Trainer(c, distributed::world(), TrainerOptions{saved}).run();
  EXPECT_EQ(loaded.steps, 0);
  EXPECT_EQ(loaded.resumed_from, saved);
  const std::string resharded = one + "/checkpoint_step3";
  ASSERT_TRUE(testing::fs::exists(resharded + "/fc_rows_0_20.safetensors"));
  const auto single = load_safetensors(resharded + "/fc_rows_0_20.safetensors");
  for (const auto& [file, begin] : {std::pair<std::string, int64_t>{"fc_rows_0_10.safetensors", 0},
                                    std::pair<std::string, int64_t>{"fc_rows_10_20.safetensors", 10}}) {
    const auto part = load_safetensors(saved + "/" + file);
    for (const char* key : {"weight", "optimizer.state.0.0.momentum_buffer"}) {
      ASSERT_TRUE(part.tensors.count(key)) << key;
      EXPECT_TRUE(same_bytes(single.tensors.at(key).narrow(0, begin, 10), part.tensors.at(key))) << file << " " << key;
    }
  }
  // The backbone, its optimizer and the position carry over unchanged.
  const TrainerCheckpointState from2 = read_trainer_state(saved), on1 = read_trainer_state(resharded);
  for (const auto& [k, v] : from2.backbone) EXPECT_TRUE(same_bytes(on1.backbone.at(k), v)) << k;
  for (const char* key : {"step", "epoch", "batch_in_epoch", "pfc_step"}) {
    EXPECT_EQ(on1.metadata.at(key), from2.metadata.at(key)) << key;
  }
  EXPECT_EQ(on1.metadata.at("world_size"), "1");

  // Training continues on one rank.
  c.max_steps = 5;
  c.resume = true;
  const TrainSummary more = Trainer(c, distributed::world()).run();
  ASSERT_EQ(more.steps, 2);
  for (double l : more.step_losses) EXPECT_TRUE(std::isfinite(l));
  // Step 4 sees the same weights and the same 16 images as the 2-rank step 4; only BatchNorm's
  // batch statistics differ (per rank over 8 images there, over 16 here), so the losses are
  // close but not equal.
  ASSERT_EQ(rc_whole_, 0);
  const double two_rank = step_losses(whole_).at(4);
  std::printf("step 4 loss: 2 ranks x 8 images %.6f, 1 rank x 16 images %.6f\n", two_rank, more.step_losses[0]);
  EXPECT_NEAR(more.step_losses[0], two_rank, 0.03 * std::abs(two_rank));  // measured: 0.8% apart
}

// The shard files of a checkpoint, as (begin, end, path), sorted by begin.
std::vector<std::tuple<int64_t, int64_t, std::string>> fc_shard_files(const std::string& checkpoint) {
  std::vector<std::tuple<int64_t, int64_t, std::string>> shards;
  for (const auto& entry : testing::fs::directory_iterator(checkpoint)) {
    long long begin = 0, end = 0;
    const std::string name = entry.path().filename().string();
    if (std::sscanf(name.c_str(), "fc_rows_%lld_%lld.safetensors", &begin, &end) == 2) {
      shards.emplace_back(begin, end, entry.path().string());
    }
  }
  std::sort(shards.begin(), shards.end());
  return shards;
}

TEST_F(TwoRankTraining, TwoRankCheckpointResumesOnThreeRanksWithUnevenShards) {
  ASSERT_EQ(rc_first_, 0) << testing::read_text(root_ + "/first.log");
  const std::string saved = resumed_ + "/checkpoint_step3";
  // Three ranks of 5 images: global batch 15, so 80 images still give 5 steps per epoch and the
  // same schedule. The first run only loads and saves (max_steps = the saved step).
  const std::string three = temp_dir("three_ranks");
  const std::string args = "--set logging.output=" + three + " --set optimizer.batch_size=5 --resume " + saved;
  ASSERT_EQ(launch_train(3, config_path_, args + " --set optimizer.max_steps=3", three + "_load.log"), 0)
      << testing::read_text(three + "_load.log");

  // 20 classes over 3 ranks: three contiguous row ranges covering [0, 20), none of them the
  // 2-rank ranges; every row (weights and momentum) equals the 2-rank checkpoint's.
  const auto shards = fc_shard_files(three + "/checkpoint_step3");
  ASSERT_EQ(shards.size(), 3u);
  int64_t next = 0;
  for (const auto& [begin, end, path] : shards) {
    std::printf("3-rank shard: rows [%lld, %lld)\n", static_cast<long long>(begin), static_cast<long long>(end));
    EXPECT_EQ(begin, next);
    EXPECT_GT(end, begin);
    next = end;
  }
  EXPECT_EQ(next, 20);
  const auto two = fc_shard_files(saved);
  ASSERT_EQ(two.size(), 2u);
  for (const char* key : {"weight", "optimizer.state.0.0.momentum_buffer"}) {
    std::vector<Tensor> saved_rows, resharded_rows;
    for (const auto& [b, e, path] : two) saved_rows.push_back(load_safetensors(path).tensors.at(key));
    for (const auto& [b, e, path] : shards) resharded_rows.push_back(load_safetensors(path).tensors.at(key));
    EXPECT_TRUE(same_bytes(concat(resharded_rows, 0), concat(saved_rows, 0))) << key;
  }

  // Training continues on three ranks with finite losses.
  ASSERT_EQ(launch_train(3, config_path_, args + " --set optimizer.max_steps=5", three + "_train.log"), 0)
      << testing::read_text(three + "_train.log");
  const auto losses = step_losses(three);
  ASSERT_TRUE(losses.count(5)) << testing::read_text(three + "_train.log");
  EXPECT_TRUE(std::isfinite(losses.at(4)));
  EXPECT_TRUE(std::isfinite(losses.at(5)));
}

TEST_F(TwoRankTraining, NonFiniteLossEndsEveryRankWithTheMessageAndACheckpoint) {
  const std::string out = root_ + "/nonfinite";
  const int rc = launch_train(2, config_path_,
                              "--set logging.output=" + out +
                                  " --set optimizer.lr=1e30 --set optimizer.clip_grad_norm=0 --set optimizer.max_steps=20",
                              root_ + "/nonfinite.log");
  const std::string log = testing::read_text(root_ + "/nonfinite.log");
  EXPECT_NE(rc, 0) << log;  // and it returned: no rank was left waiting
  const size_t at = log.find("non-finite values at step ");
  ASSERT_NE(at, std::string::npos) << log;
  const int64_t bad_step = std::stoll(log.substr(at + 26));
  EXPECT_EQ(latest_checkpoint(out), out + "/checkpoint_step" + std::to_string(bad_step - 1)) << log;
  EXPECT_TRUE(testing::fs::exists(out + "/checkpoint_step" + std::to_string(bad_step - 1) + "/fc_rows_10_20.safetensors"));
}

// A 16-bit body with gradient accumulation on 2 ranks: the micro-batch gradients are summed in
// the float32 masters and averaged over the ranks after the last micro-batch (one all-reduce
// outside DataParallel's hooks); the run must complete with finite, applied steps.
TEST_F(TwoRankTraining, Fp16WithGradientAccumulationAveragesTheMasterGradients) {
  const std::string out = root_ + "/fp16_acc";
  const int rc = launch_train(2, config_path_,
                              "--set logging.output=" + out +
                                  " --set precision=fp16 --set optimizer.gradient_acc=2 --set optimizer.batch_size=4"
                                  " --set optimizer.max_steps=8",
                              root_ + "/fp16_acc.log");
  const std::string log = testing::read_text(root_ + "/fp16_acc.log");
  ASSERT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("train: done at step 8"), std::string::npos) << log;
  const auto losses = step_losses(out);
  ASSERT_EQ(losses.size(), 8u) << log;
  for (const auto& [step, loss] : losses) EXPECT_TRUE(std::isfinite(loss)) << "step " << step;
  // The loss scale starts at 2^16 and backs off: some steps may be skipped, not all of them.
  const size_t at = log.find("fp16 steps skipped)");
  ASSERT_NE(at, std::string::npos) << log;
  const size_t open = log.rfind(", ", at);
  EXPECT_LT(std::stoll(log.substr(open + 2)), 8) << log;
}

// An error on rank 0 alone (only rank 0 loads the validation sets, after the communicators and
// the model are set up): the job must end at once with rank 0's message, not leave rank 1
// waiting in its first collective. (On the CPU nothing in the teardown can block; on CUDA the
// NCCL communicator's could, which is why apps/train aborts before destroying the trainer.)
TEST(TwoRankSetupError, OnRankZeroAloneEndsTheJobWithItsMessage) {
  if (!testing::kCanLaunchMpi) GTEST_SKIP() << "built without MPI (no mpirun): multi-rank runs not possible";
  const std::string root = temp_dir("two_ranks_setup_error");
  TrainConfig c = testing::tiny_config(root + "/out");
  c.val_targets = {"no_such_target"};
  const std::string config_path = root + "/missing_val.prototxt";
  std::ofstream(config_path) << train_config_to_text(c);
  // A regression would hang in a collective: let the watchdog end it after a minute, not 30.
  setenv("FF_COLLECTIVE_TIMEOUT_S", "60", 1);
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = launch_train(2, config_path, "", root + "/run.log");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  unsetenv("FF_COLLECTIVE_TIMEOUT_S");
  const std::string log = testing::read_text(root + "/run.log");
  EXPECT_NE(rc, 0) << log;
  EXPECT_NE(log.find("no_such_target"), std::string::npos) << log;
  EXPECT_EQ(log.find("did not complete"), std::string::npos) << "ended by the collective watchdog:\n" << log;
  EXPECT_LT(seconds, 50.0) << log;
}

// skip_bad_records on 2 ranks: the damaged records fall to whichever rank the sampler gives
// them; the all-rank count is a collective at each epoch end and at the end, so both ranks
// must reach it together and the job must finish.
TEST(TwoRankBadRecords, AreSkippedAndCountedOverBothRanks) {
  if (!testing::kCanLaunchMpi) GTEST_SKIP() << "built without MPI (no mpirun): multi-rank runs not possible";
  const std::string root = temp_dir("two_ranks_bad_records");
  TrainConfig c = testing::tiny_config(root + "/out");
  c.data_path = testing::damaged_dataset();
  c.skip_bad_records = true;
  c.max_steps = 6;  // 5 steps per epoch on 2 ranks: the epoch-0 report, then the final one
  c.val_targets = {};
  const std::string config_path = root + "/bad.prototxt";
  std::ofstream(config_path) << train_config_to_text(c);
  const int rc = launch_train(2, config_path, "", root + "/run.log");
  const std::string log = testing::read_text(root + "/run.log");
  ASSERT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("data (epoch 0): 2 bad records skipped so far on 2 ranks"), std::string::npos) << log;
  // Each record once per epoch: both bad ones were met in epoch 0, on whichever rank; every
  // report names them with their part, record and offset.
  EXPECT_NE(log.find("part-00000' record 5 at byte offset"), std::string::npos) << log;
  EXPECT_NE(log.find("label 25 is outside [0, 20)"), std::string::npos) << log;
  EXPECT_NE(log.find("data (end of training): "), std::string::npos) << log;
  EXPECT_NE(log.find("train: done at step 6"), std::string::npos) << log;
  EXPECT_EQ(step_losses(root + "/out").size(), 6u);
}

}  // namespace
}  // namespace ff::apps
