// The trainer in one process on the CPU with a tiny MobileFaceNet on a tiny synthetic dataset:
// it learns, a resumed run reproduces the uninterrupted one exactly, a non-finite loss stops it
// with the last good state saved, and its outputs (log, metrics, export, verification) exist.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "apps/common/model_io.h"
#include "apps/common/trainer.h"
#include "apps/common/trainer_checkpoint.h"
#include "data/recordio/mx_face_dataset.h"
#include "framework/common/check.h"
#include "framework/distributed/communicator.h"
#include "framework/io/safetensors.h"
#include "tests/apps_train/train_test_util.h"
#include "tests/common/test_assertions.h"

namespace ff::apps {
namespace {

using testing::step_losses;
using testing::temp_dir;
using testing::tiny_config;

double mean(const std::vector<double>& v, size_t begin, size_t end) {
  double s = 0;
  for (size_t i = begin; i < end; ++i) s += v[i];
  return s / static_cast<double>(end - begin);
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.sizes() == b.sizes() &&
         std::memcmp(a.contiguous().raw_data(), b.contiguous().raw_data(), a.numel() * a.element_size()) == 0;
}

TEST(Trainer, LossDecreasesAndTheRunWritesItsOutputs) {
  const std::string out = temp_dir("learns");
  TrainConfig c = tiny_config(out);
  c.max_steps = 30;
  c.lr = 0.2;
  c.frequent = 10;
  c.verbose = 15;
  c.val_targets = {"lfw"};
  Trainer trainer(c, distributed::world());
  const TrainSummary s = trainer.run();
  ASSERT_EQ(s.steps, 30);
  EXPECT_EQ(s.global_step, 30);
  ASSERT_EQ(s.step_losses.size(), 30u);
  for (double l : s.step_losses) EXPECT_TRUE(std::isfinite(l));
  // How much 30 steps gain depends on the exact trajectory (0.80-0.87 of the first losses over
  // lr 0.05-0.3); LossFallsOverSixtySteps below asserts the learning itself.
  const double first = mean(s.step_losses, 0, 5), last = mean(s.step_losses, 25, 30);
  EXPECT_LT(last, first) << "first 5 steps " << first << ", last 5 " << last;

  // Verification ran (steps 15 and 30) with an accuracy in [0, 1].
  ASSERT_EQ(s.last_verification.size(), 1u);
  EXPECT_EQ(s.last_verification[0].first, "lfw");
  EXPECT_GE(s.last_verification[0].second, 0.0);
  EXPECT_LE(s.last_verification[0].second, 1.0);
  const std::string metrics = testing::read_text(out + "/metrics.jsonl");
  EXPECT_NE(metrics.find("\"type\":\"verification\",\"step\":15,\"target\":\"lfw\""), std::string::npos) << metrics;
  // Log lines every 10 steps with every field.
  const std::string log = testing::read_text(out + "/log.txt");
  EXPECT_NE(log.find("step 10/30 epoch 0 loss "), std::string::npos) << log;  // the epoch it ended
  for (const char* field : {" lr ", " speed ", " samples/s grad_scale 1 eta "}) {
    EXPECT_NE(log.find(field), std::string::npos) << field << "\n" << log;
  }
  EXPECT_EQ(step_losses(out).size(), 3u);  // steps 10, 20, 30

  // Checkpoints at the epoch ends (10 steps each) and the end; latest = the last one; the
  // default keep_checkpoints = 2 removed step 10 when step 30 was saved.
  EXPECT_FALSE(testing::fs::exists(out + "/checkpoint_step10"));
  for (int step : {20, 30}) EXPECT_TRUE(testing::fs::is_directory(out + "/checkpoint_step" + std::to_string(step)));
  EXPECT_NE(log.find("checkpoint: removed " + out + "/checkpoint_step10 (logging.keep_checkpoints = 2)"),
            std::string::npos)
      << log;
  EXPECT_EQ(latest_checkpoint(out), out + "/checkpoint_step30");
  EXPECT_EQ(s.last_checkpoint, out + "/checkpoint_step30");
  // The exported backbone loads into a fresh model for val / onnx_export.
  auto model = load_backbone(out + "/model.safetensors", "mbf",
                             models::BackboneOptions().set_embedding_size(64).set_width_divisor(8).set_input_size(32));
  EXPECT_EQ(model->network(), "mbf");
  EXPECT_TRUE(testing::fs::exists(out + "/config.prototxt"));
}

TEST(Trainer, EachLocalRankGetsItsOwnGpu) {
  EXPECT_EQ(cuda_device_for_local_rank(0, 8), 0);
  EXPECT_EQ(cuda_device_for_local_rank(7, 8), 7);
  EXPECT_EQ(cuda_device_for_local_rank(5, 1), 0);  // CUDA_VISIBLE_DEVICES narrowed per rank
  EXPECT_FF_ERROR(cuda_device_for_local_rank(2, 2), "local rank 2 has no GPU of its own", "sees 2 CUDA devices",
                  "at most 2 ranks per node");
  EXPECT_FF_ERROR(cuda_device_for_local_rank(0, 0), "no CUDA device");
}

TEST(Trainer, LossFallsOverSixtySteps) {
  TrainConfig c = tiny_config(temp_dir("sixty"));
  c.num_epoch = 6;  // 10 steps per epoch: the schedule spans the 60 steps
  c.max_steps = 60;
  c.frequent = 0;
  c.verbose = 0;
  c.val_targets = {};
  Trainer trainer(c, distributed::world());
  const TrainSummary s = trainer.run();
  ASSERT_EQ(s.step_losses.size(), 60u);
  const double first = mean(s.step_losses, 0, 5), last = mean(s.step_losses, 55, 60);
  EXPECT_LT(last, 0.8 * first) << "first 5 steps " << first << ", last 5 " << last;
}

struct ResumeCase {
  const char* name;
  std::string optimizer;
  int64_t gradient_acc;
  double sample_rate;
  std::string precision = "fp32";
};

void PrintTo(const ResumeCase& c, std::ostream* os) { *os << c.name; }

// sample_rate 0.9: 18 of 20 centres per step, more than the <= 16 positives of a batch, so the
// random negatives (keyed by the Partial FC step) matter and the step must be restored.
class TrainerResume : public ::testing::TestWithParam<ResumeCase> {};

// 16 images per step: 5 steps per epoch. The interrupted run stops at step 3 (mid-epoch); the
// resumed one crosses the epoch end at step 5.
TEST_P(TrainerResume, ResumedRunReproducesTheUninterruptedLosses) {
  const ResumeCase& rc = GetParam();
  auto config = [&](const std::string& out, int64_t max_steps) {
    TrainConfig c = tiny_config(out);
    c.optimizer = rc.optimizer;
    if (rc.optimizer == "adamw") {
      c.lr = 1e-3;
      c.weight_decay = 0.05;
    }
    c.batch_size = 16 / rc.gradient_acc;
    c.gradient_acc = rc.gradient_acc;
    c.sample_rate = rc.sample_rate;
    c.precision = rc.precision;
    c.warmup_epoch = 1;
    c.max_steps = max_steps;
    return c;
  };
  const std::string whole_dir = temp_dir(std::string("whole_") + rc.name);
  const TrainSummary whole = Trainer(config(whole_dir, 7), distributed::world()).run();
  ASSERT_EQ(whole.step_losses.size(), 7u);
  if (rc.precision == "fp16") {
    // The initial scale 65536 overflows this model's fp16 gradients: the first steps are skipped
    // while the scale backs off, then steps apply. The resume point (3) falls inside the skips,
    // so the loss scale must come back from the checkpoint for step 7 to match.
    EXPECT_GT(whole.skipped_steps, 0);
    EXPECT_LT(whole.skipped_steps, 7);
  }

  const std::string dir = temp_dir(std::string("resumed_") + rc.name);
  const TrainSummary first = Trainer(config(dir, 3), distributed::world()).run();
  ASSERT_EQ(first.step_losses.size(), 3u);
  ASSERT_EQ(latest_checkpoint(dir), dir + "/checkpoint_step3");
  TrainConfig again = config(dir, 7);
  again.resume = true;
  const TrainSummary second = Trainer(again, distributed::world()).run();
  EXPECT_EQ(second.resumed_from, dir + "/checkpoint_step3");
  ASSERT_EQ(second.steps, 4);
  ASSERT_EQ(second.global_step, 7);
  // Same arithmetic in the same order on the same data: bit-identical, not merely close.
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(first.step_losses[i], whole.step_losses[i]) << "step " << i + 1;
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(second.step_losses[i], whole.step_losses[i + 3]) << "step " << i + 4;
  // metrics.jsonl of the resumed directory continues the first run's records.
  const auto logged = step_losses(dir);
  ASSERT_EQ(logged.size(), 7u);
  for (int64_t step = 1; step <= 7; ++step) EXPECT_EQ(logged.at(step), whole.step_losses[step - 1]) << step;
  // And the final weights agree bit for bit.
  const auto a = load_safetensors(whole_dir + "/checkpoint_step7/fc_rows_0_20.safetensors");
  const auto b = load_safetensors(dir + "/checkpoint_step7/fc_rows_0_20.safetensors");
  EXPECT_TRUE(same_bytes(a.tensors.at("weight"), b.tensors.at("weight")));

  if (rc.precision == "fp16") {
    // The exported backbone holds the float32 masters (as in the checkpoint), not the model's
    // fp16 copies: arcface_torch's autocast keeps float32 parameters and saves those.
    const auto exported = load_safetensors(whole_dir + "/model.safetensors").tensors;
    const TrainerCheckpointState ckpt = read_trainer_state(whole_dir + "/checkpoint_step7");
    int64_t compared = 0, not_fp16_representable = 0;
    for (const auto& [key, value] : exported) {
      ASSERT_TRUE(ckpt.backbone.count(key)) << key;
      if (!is_floating(value.dtype())) continue;
      ASSERT_EQ(value.dtype(), DType::Float32) << key;
      EXPECT_TRUE(same_bytes(value, ckpt.backbone.at(key))) << key;
      ++compared;
      if (!same_bytes(value.to(DType::Float16).to(DType::Float32), value)) ++not_fp16_representable;
    }
    EXPECT_GT(compared, 10);
    EXPECT_GT(not_fp16_representable, 0) << "every exported tensor is exactly fp16: the masters were not exported";
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, TrainerResume,
                         ::testing::Values(ResumeCase{"sgd_sampled", "sgd", 1, 0.9},
                                           ResumeCase{"adamw_accumulated", "adamw", 2, 1.0},
                                           ResumeCase{"sgd_fp16", "sgd", 1, 1.0, "fp16"},
                                           ResumeCase{"sgd_fp16_accumulated", "sgd", 2, 1.0, "fp16"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Trainer, NonFiniteLossStopsWithTheLastGoodStateSaved) {
  const std::string out = temp_dir("nonfinite");
  TrainConfig c = tiny_config(out);
  c.lr = 1e30;  // the weights overflow within a few steps
  c.clip_grad_norm = 0;
  c.max_steps = 30;
  int64_t bad_step = -1;
  try {
    Trainer(c, distributed::world()).run();
    FAIL() << "expected the run to stop on a non-finite loss";
  } catch (const Error& e) {
    const std::string what = e.what();
    ASSERT_NE(what.find("non-finite values at step "), std::string::npos) << what;
    bad_step = std::stoll(what.substr(what.find("at step ") + 8));
    EXPECT_NE(what.find("last good state saved to " + out + "/checkpoint_step" + std::to_string(bad_step - 1)),
              std::string::npos)
        << what;
  }
  ASSERT_GE(bad_step, 2);
  const std::string saved = latest_checkpoint(out);
  ASSERT_EQ(saved, out + "/checkpoint_step" + std::to_string(bad_step - 1));
  const TrainerCheckpointState state = read_trainer_state(saved);
  EXPECT_EQ(state.metadata.at("step"), std::to_string(bad_step - 1));

  // "Last good" means exactly what a run stopped at that step holds: same weights, BatchNorm
  // statistics (which the bad forward pass had already updated) and optimizer state.
  const std::string ref_dir = temp_dir("nonfinite_reference");
  TrainConfig r = c;
  r.output = ref_dir;
  r.max_steps = bad_step - 1;
  Trainer(r, distributed::world()).run();
  const TrainerCheckpointState ref = read_trainer_state(ref_dir + "/checkpoint_step" + std::to_string(bad_step - 1));
  ASSERT_EQ(ref.backbone.size(), state.backbone.size());
  for (const auto& [k, v] : ref.backbone) EXPECT_TRUE(same_bytes(state.backbone.at(k), v)) << k;
  for (const auto& [k, v] : ref.optimizer) EXPECT_TRUE(same_bytes(state.optimizer.at(k), v)) << k;
  EXPECT_EQ(state.metadata.at("pfc_step"), ref.metadata.at("pfc_step"));
  EXPECT_EQ(state.metadata.at("batch_in_epoch"), ref.metadata.at("batch_in_epoch"));
}

TEST(Trainer, BadRecordsStopTheRunNamingThemOrAreSkippedWhenAsked) {
  const std::string parts = testing::damaged_dataset();
  TrainConfig c = tiny_config(temp_dir("bad_records_stop"));
  c.data_path = parts;
  c.max_steps = 10;  // one epoch: every record is read once
  c.val_targets = {};
  {
    Trainer trainer(c, distributed::world());
    // Whichever bad record the shuffle reaches first stops the run, named with its offset.
    EXPECT_FF_ERROR(trainer.run(), parts + "/part-00000' record", "at byte offset");
  }
  c.skip_bad_records = true;
  c.output = temp_dir("bad_records_skip");
  Trainer trainer(c, distributed::world());
  const TrainSummary s = trainer.run();
  EXPECT_EQ(s.steps, 10);
  EXPECT_EQ(s.bad_records, 2);
  for (double l : s.step_losses) EXPECT_TRUE(std::isfinite(l));
  const std::string log = testing::read_text(c.output + "/log.txt");
  EXPECT_NE(log.find("data (epoch 0): 2 bad records skipped so far on 1 rank, 2 on rank 0"), std::string::npos) << log;
  EXPECT_NE(log.find("data: 2 bad records skipped in all (listed above)"), std::string::npos) << log;
  EXPECT_NE(log.find("part-00000' record 5 at byte offset"), std::string::npos) << log;
  EXPECT_NE(log.find("label 25 is outside [0, 20)"), std::string::npos) << log;
}

// The same records as OFRecord parts, MXNet RecordIO (with and without the .idx) and an image
// folder: the trainer reads each format into the same run, step for step. The records are put
// in the order all four keep (insightface's .rec groups them by label; the folder sorts
// identities and files by name): grouped by label, stable.
TEST(Trainer, EveryDatasetFormatGivesTheSameRun) {
  const data::OFRecordDataset parts(testing::tiny_dataset() + "/train");
  std::vector<data::FaceExample> examples;
  for (int64_t i = 0; i < parts.size(); ++i) examples.push_back(parts.get(i));
  std::stable_sort(examples.begin(), examples.end(),
                   [](const data::FaceExample& a, const data::FaceExample& b) { return a.label < b.label; });

  const std::string root = temp_dir("formats");
  const std::string ofrecord = root + "/ofrecord", rec_dir = root + "/rec", rec_no_idx = root + "/rec_no_idx",
                    folder = root + "/folder";
  for (const std::string& d : {rec_dir, rec_no_idx}) testing::fs::create_directories(d);
  data::write_ofrecord_parts(ofrecord, examples, 3);
  data::write_insightface_rec(rec_dir + "/train.rec", rec_dir + "/train.idx", examples);
  data::write_insightface_rec(rec_no_idx + "/train.rec", root + "/unused.idx", examples, /*label_as_array=*/true);
  for (size_t i = 0; i < examples.size(); ++i) {
    const std::string dir = fmt::format("{}/id{:03d}", folder, examples[i].label);
    testing::fs::create_directories(dir);
    std::ofstream(fmt::format("{}/{:05d}.jpg", dir, i), std::ios::binary)
        .write(reinterpret_cast<const char*>(examples[i].encoded_jpeg.data()),
               static_cast<std::streamsize>(examples[i].encoded_jpeg.size()));
  }

  const auto run = [&](const std::string& format, const std::string& path, int64_t num_classes) {
    TrainConfig c = tiny_config(root + "/out_" + format + std::to_string(num_classes));
    c.data_format = format;
    c.data_path = path;
    c.num_classes = num_classes;  // 0: discovered (rec header record, folder count)
    c.max_steps = 4;
    c.val_targets = {};
    Trainer trainer(c, distributed::world());
    return trainer.run().step_losses;
  };
  const std::vector<double> reference = run("ofrecord", ofrecord, 20);
  ASSERT_EQ(reference.size(), 4u);
  EXPECT_EQ(run("rec", rec_dir, 0), reference) << "train.rec + train.idx, classes from the header record";
  EXPECT_EQ(run("rec", rec_no_idx, 0), reference) << "train.rec scanned without an index, [class, 0] labels";
  EXPECT_EQ(run("folder", folder, 0), reference) << "one folder per identity";
}

TEST(Trainer, RejectsBadSettingsNamingThem) {
  const std::string out = temp_dir("bad_settings");
  TrainConfig c = tiny_config(out);
  c.batch_size = 64;  // 80 images, 1 rank: 1 batch per epoch, but gradient_acc 2 needs 2
  c.gradient_acc = 2;
  try {
    Trainer t(c, distributed::world());
    FAIL() << "expected ff::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fewer than gradient_acc = 2"), std::string::npos) << e.what();
  }
  TrainConfig missing = tiny_config(out);
  missing.val_targets = {"agedb_30"};
  try {
    Trainer t(missing, distributed::world());
    FAIL() << "expected ff::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("validation target 'agedb_30' not found"), std::string::npos) << e.what();
  }
  TrainConfig resume = tiny_config(out);
  try {
    Trainer t(resume, distributed::world(), TrainerOptions{out + "/no_such_checkpoint"});
    FAIL() << "expected ff::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("trainer.safetensors is missing"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ff::apps
