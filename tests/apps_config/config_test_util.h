// Helpers shared by the train-config tests (tests/apps_config/).
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "apps/common/train_config.h"
#include "framework/common/check.h"

namespace ff::apps::test {

// The message of the ff::Error `fn` throws; fails the test (and returns "") when it throws
// nothing or something else.
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ff::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ff::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected ff::Error, nothing was thrown";
  return "";
}

// Expects `fn` to throw ff::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  const std::string message = error_of(fn);
  for (const std::string& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos) << "missing \"" << part << "\" in: " << message;
  }
}

// configs/ of the source tree (this file lives in <root>/tests/apps_config/).
inline std::filesystem::path configs_dir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "configs";
}

// The smallest valid config: everything default except a synthetic dataset, so no path or class
// count is needed.
constexpr const char* kMinimalConfig = "data { format: \"synthetic\" }\n";

// The training recipe that arcface_torch's base.py and its reference dataset configs share
// (face_recognition.md 3.1, 3.2): 512-d embeddings, every class centre sampled by Partial FC,
// SGD with lr 0.1 and momentum 0.9 at 128 images per rank, no warm-up, and train_v2.py's margin
// scale s = 64.
inline void expect_arcface_torch_recipe(const TrainConfig& c) {
  EXPECT_EQ(c.embedding_size, 512);
  EXPECT_EQ(c.sample_rate, 1.0);
  EXPECT_EQ(c.batch_size, 128);
  EXPECT_EQ(c.optimizer, "sgd");
  EXPECT_EQ(c.lr, 0.1);
  EXPECT_EQ(c.momentum, 0.9);
  EXPECT_EQ(c.warmup_epoch, 0);
  EXPECT_EQ(c.scale, 64.0);
}

// Every field of two configs, compared one by one.
inline void expect_same_config(const TrainConfig& a, const TrainConfig& b) {
  EXPECT_EQ(a.network, b.network);
  EXPECT_EQ(a.embedding_size, b.embedding_size);
  EXPECT_EQ(a.dropout, b.dropout);
  EXPECT_EQ(a.width_divisor, b.width_divisor);
  EXPECT_EQ(a.input_size, b.input_size);
  EXPECT_EQ(a.m1, b.m1);
  EXPECT_EQ(a.m2, b.m2);
  EXPECT_EQ(a.m3, b.m3);
  EXPECT_EQ(a.scale, b.scale);
  EXPECT_EQ(a.sample_rate, b.sample_rate);
  EXPECT_EQ(a.interclass_filtering_threshold, b.interclass_filtering_threshold);
  EXPECT_EQ(a.precision, b.precision);
  EXPECT_EQ(a.batch_size, b.batch_size);
  EXPECT_EQ(a.optimizer, b.optimizer);
  EXPECT_EQ(a.lr, b.lr);
  EXPECT_EQ(a.momentum, b.momentum);
  EXPECT_EQ(a.weight_decay, b.weight_decay);
  EXPECT_EQ(a.num_epoch, b.num_epoch);
  EXPECT_EQ(a.warmup_epoch, b.warmup_epoch);
  EXPECT_EQ(a.gradient_acc, b.gradient_acc);
  EXPECT_EQ(a.clip_grad_norm, b.clip_grad_norm);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.max_steps, b.max_steps);
  EXPECT_EQ(a.data_path, b.data_path);
  EXPECT_EQ(a.data_format, b.data_format);
  EXPECT_EQ(a.num_classes, b.num_classes);
  EXPECT_EQ(a.num_image, b.num_image);
  EXPECT_EQ(a.val_targets, b.val_targets);
  EXPECT_EQ(a.val_dir, b.val_dir);
  EXPECT_EQ(a.num_workers, b.num_workers);
  EXPECT_EQ(a.image_dtype, b.image_dtype);
  EXPECT_EQ(a.skip_bad_records, b.skip_bad_records);
  EXPECT_EQ(a.synthetic_identities, b.synthetic_identities);
  EXPECT_EQ(a.synthetic_images_per_identity, b.synthetic_images_per_identity);
  EXPECT_EQ(a.device, b.device);
  EXPECT_EQ(a.verbose, b.verbose);
  EXPECT_EQ(a.frequent, b.frequent);
  EXPECT_EQ(a.output, b.output);
  EXPECT_EQ(a.resume, b.resume);
  EXPECT_EQ(a.save_every_steps, b.save_every_steps);
  EXPECT_EQ(a.save_all_states, b.save_all_states);
}

}  // namespace ff::apps::test
