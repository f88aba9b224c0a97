// Checkpoints: model + optimizer + scheduler state in one file, resumed training identical to
// uninterrupted training, metadata and format checks.
#include "framework/io/checkpoint.h"

#include <gtest/gtest.h>

#include "framework/optim/lr_scheduler.h"
#include "framework/optim/sgd.h"
#include "ops/tensor_ops/fill.h"
#include "tests/io/io_test_util.h"

namespace ff {
namespace {

using namespace ff::optim;

using testing::TempDir;

struct TrainingRun {
  Tensor w = tensor_from(std::vector<float>{1.0f, -2.0f, 0.5f, 3.0f}, {2, 2});
  Tensor b = tensor_from(std::vector<float>{0.1f, 0.2f}, {2});
  SGD opt;
  PolynomialLRWarmup sched;
  TrainingRun() : opt({ParamGroup({w}), ParamGroup({b}, {{"lr", 0.05}})}, options()), sched(opt, 3, 20, 2.0) {}
  static SGDOptions options() { return SGDOptions(0.1).momentum(0.9).weight_decay(5e-4); }
  void train_step(int k) {  // deterministic fake gradients
    w.set_grad(full({2, 2}, 0.1 * k - 0.3, DType::Float32));
    b.set_grad(full({2}, 0.2 - 0.05 * k, DType::Float32));
    opt.step();
    opt.zero_grad();
    sched.step();
  }
  StateDict model() const { return {{"fc.weight", w}, {"fc.bias", b}}; }
};

TEST(Checkpoint, ResumedTrainingMatchesUninterruptedTraining) {
  TempDir dir;
  const std::string path = dir.file("checkpoint_gpu_0.safetensors");
  TrainingRun uninterrupted, first_half;
  for (int k = 0; k < 5; ++k) {
    uninterrupted.train_step(k);
    first_half.train_step(k);
  }
  Checkpoint ckpt;
  ckpt.model = first_half.model();
  ckpt.optimizer = first_half.opt.state_dict();
  ckpt.scheduler = first_half.sched.state_dict();
  ckpt.epoch = 2;
  ckpt.global_step = 5;
  ckpt.metadata["config"] = "ms1mv3_r50";
  save_checkpoint(path, ckpt);

  // A new process: fresh model, optimizer and scheduler, then the checkpoint.
  TrainingRun resumed;
  const Checkpoint loaded = load_checkpoint(path);
  EXPECT_EQ(loaded.epoch, 2);
  EXPECT_EQ(loaded.global_step, 5);
  EXPECT_EQ(loaded.metadata.at("config"), "ms1mv3_r50");
  EXPECT_EQ(loaded.metadata.count("format"), 0u);  // reserved entries become fields
  resumed.w.copy_(loaded.model.at("fc.weight"));
  resumed.b.copy_(loaded.model.at("fc.bias"));
  resumed.opt.load_state_dict(loaded.optimizer);
  resumed.sched.load_state_dict(loaded.scheduler);
  for (int k = 5; k < 10; ++k) {
    uninterrupted.train_step(k);
    resumed.train_step(k);
  }
  EXPECT_EQ(to_vector<float>(resumed.w), to_vector<float>(uninterrupted.w));
  EXPECT_EQ(to_vector<float>(resumed.b), to_vector<float>(uninterrupted.b));
  EXPECT_EQ(resumed.opt.lr(1), uninterrupted.opt.lr(1));
}

TEST(Checkpoint, SectionsAndFormatAreChecked) {
  TempDir dir;
  const std::string path = dir.file("c.safetensors");
  Checkpoint ckpt;
  ckpt.metadata["epoch"] = "7";
  EXPECT_FF_ERROR(save_checkpoint(path, ckpt), "metadata key 'epoch' is reserved");

  // A plain tensor file is not a checkpoint.
  save_safetensors(path, {{"model.w", zeros({1})}});
  EXPECT_FF_ERROR(load_checkpoint(path), path, "not a FaceFlow checkpoint");
  // Keys outside the three sections.
  save_safetensors(path, {{"weights.w", zeros({1})}},
                   {{"format", "faceflow.checkpoint"}, {"format_version", "1"}, {"epoch", "0"}, {"global_step", "0"}});
  EXPECT_FF_ERROR(load_checkpoint(path), "'weights.w' belongs to no section");
  save_safetensors(path, {}, {{"format", "faceflow.checkpoint"}, {"format_version", "2"}});
  EXPECT_FF_ERROR(load_checkpoint(path), "format_version 2");
  save_safetensors(path, {},
                   {{"format", "faceflow.checkpoint"}, {"format_version", "1"}, {"epoch", "x"}, {"global_step", "0"}});
  EXPECT_FF_ERROR(load_checkpoint(path), "'epoch' = 'x' is not an integer");
}

TEST(Checkpoint, EmptySectionsRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("c.safetensors");
  Checkpoint ckpt;
  ckpt.model["w"] = full({3}, 1.0, DType::BFloat16);
  ckpt.global_step = 123456789012LL;
  save_checkpoint(path, ckpt.model, {}, {}, /*epoch=*/0, ckpt.global_step);
  const Checkpoint loaded = load_checkpoint(path);
  EXPECT_EQ(loaded.global_step, 123456789012LL);
  EXPECT_EQ(loaded.model.at("w").dtype(), DType::BFloat16);
  EXPECT_TRUE(loaded.optimizer.empty());
  EXPECT_TRUE(loaded.scheduler.empty());
}

}  // namespace
}  // namespace ff
