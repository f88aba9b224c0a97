// Values out of range and unknown names: every error names the key and the line that set it.
#include <gtest/gtest.h>

#include "tests/apps_config/config_test_util.h"

namespace ff::apps::test {
namespace {

struct BadValue {
  std::string section;  // "" for a top-level key
  std::string key;
  std::string value;    // as written in the file
  std::string rule;     // part of the expected message
};

// The bad key sits on line 3, column 3 inside its section (line 2, column 1 at the top level);
// the rest is the minimal valid config.
std::string config_with(const BadValue& b) {
  std::string text = "# bad value\n";
  if (b.section.empty()) return text + b.key + ": " + b.value + "\n" + kMinimalConfig;
  text += b.section + " {\n  " + b.key + ": " + b.value + "\n";
  if (b.section == "data") return text + "  format: \"synthetic\"\n}\n";
  return text + "}\n" + kMinimalConfig;
}

std::string dotted(const BadValue& b) { return b.section.empty() ? b.key : b.section + "." + b.key; }

TEST(ConfigValueErrors, EachRangeCheckNamesKeyAndLine) {
  const std::vector<BadValue> cases = {
      {"model", "network", "\"r99\"", "is not one of r18, r34, r50, r100, r200, mbf, mbf_large"},
      {"model", "embedding_size", "0", "must be > 0"},
      {"model", "dropout", "1.0", "must be in [0, 1)"},
      {"model", "width_divisor", "0", "must be >= 1"},
      {"model", "input_size", "100", "multiple of 16"},
      {"margin", "m1", "0", "must be > 0"},
      {"margin", "m2", "-0.1", "must be in [0, pi)"},
      {"margin", "m2", "3.2", "must be in [0, pi)"},
      {"margin", "m3", "-0.1", "must be in [0, 1)"},
      {"margin", "s", "0", "must be > 0"},
      {"margin", "sample_rate", "1.5", "must be in [0, 1]"},
      {"margin", "sample_rate", "-0.1", "must be in [0, 1]"},
      {"margin", "interclass_filtering_threshold", "1.5", "must be in [0, 1]"},
      {"", "precision", "\"fp8\"", "is not one of fp32, fp16, bf16"},
      {"", "device", "\"tpu\"", "is not one of auto, cpu, cuda"},
      {"optimizer", "type", "\"adam\"", "is not one of sgd, adamw"},
      {"optimizer", "batch_size", "0", "must be > 0"},
      {"optimizer", "lr", "0", "must be > 0"},
      {"optimizer", "lr", "-0.1", "must be > 0"},
      {"optimizer", "lr", "inf", "must be a finite number"},
      {"optimizer", "lr", "nan", "must be a finite number"},
      {"optimizer", "momentum", "1.0", "must be in [0, 1)"},
      {"optimizer", "weight_decay", "-1e-4", "must be >= 0"},
      {"optimizer", "num_epoch", "0", "must be > 0"},
      {"optimizer", "warmup_epoch", "20", "must be in [0, optimizer.num_epoch = 20)"},
      {"optimizer", "warmup_epoch", "-1", "must be in [0, optimizer.num_epoch = 20)"},
      {"optimizer", "gradient_acc", "0", "must be >= 1"},
      {"optimizer", "clip_grad_norm", "-1", "must be >= 0"},
      {"optimizer", "max_steps", "-1", "must be >= 0"},
      {"data", "num_classes", "-1", "must be >= 0"},
      {"data", "num_classes", "5", "must be >= data.synthetic_identities = 1000"},
      {"data", "num_image", "-1", "must be >= 0"},
      {"data", "num_workers", "-1", "must be >= 0"},
      {"data", "image_dtype", "\"int8\"", "is not one of fp32, fp16"},
      {"data", "synthetic_identities", "0", "must be > 0"},
      {"data", "synthetic_images_per_identity", "0", "must be > 0"},
      {"data", "val_targets", "\"bins/lfw\"", "must be a name"},
      {"data", "val_targets", "\"lfw.bin\"", "without .bin"},
      {"data", "val_targets", "\"\"", "is empty"},
      {"logging", "verbose", "-1", "must be >= 0"},
      {"logging", "frequent", "-1", "must be >= 0"},
      {"logging", "output", "\"\"", "must not be empty"},
      {"logging", "save_every_steps", "-1", "must be >= 0"},
  };
  for (const BadValue& b : cases) {
    SCOPED_TRACE(dotted(b) + ": " + b.value);
    const std::string where = b.section.empty() ? "test.prototxt:2:1: " : "test.prototxt:3:3: ";
    expect_error([&] { parse_train_config(config_with(b), "test.prototxt"); }, {where + dotted(b), b.rule});
  }
}

TEST(ConfigValueErrors, TheValidNeighboursOfEachBoundParse) {
  // The edges of the ranges above are accepted, so the checks are not off by one.
  const std::vector<BadValue> ok = {
      {"margin", "sample_rate", "0", ""},   {"margin", "sample_rate", "1", ""},
      {"margin", "m2", "0", ""},            {"margin", "m3", "0.4", ""},
      {"margin", "interclass_filtering_threshold", "1", ""},
      {"optimizer", "momentum", "0", ""},   {"optimizer", "weight_decay", "0", ""},
      {"optimizer", "warmup_epoch", "19.5", ""}, {"optimizer", "clip_grad_norm", "0", ""},
      {"optimizer", "gradient_acc", "1", ""}, {"model", "input_size", "16", ""},
      {"logging", "verbose", "0", ""},      {"data", "num_workers", "0", ""},
      {"data", "num_classes", "1000", ""},  {"", "precision", "\"bf16\"", ""},
      {"optimizer", "type", "\"adamw\"", ""},
  };
  for (const BadValue& b : ok) {
    SCOPED_TRACE(dotted(b) + ": " + b.value);
    EXPECT_NO_THROW(parse_train_config(config_with(b), "test.prototxt"));
  }
}

TEST(ConfigValueErrors, DropoutOnMobileFaceNet) {
  expect_error([] { parse_train_config("model {\n  network: \"mbf\"\n  dropout: 0.2\n}\n" + std::string(kMinimalConfig), "t"); },
               {"t:3:3: model.dropout must be 0 for mbf"});
  EXPECT_NO_THROW(parse_train_config("model { network: \"r18\" dropout: 0.2 }\n" + std::string(kMinimalConfig), "t"));
}

TEST(ConfigValueErrors, DataFormatAndPath) {
  expect_error([] { parse_train_config("data {\n  path: \"/d\"\n  format: \"lmdb\"\n}\n", "t"); },
               {"t:3:3: data.format \"lmdb\" is not one of ofrecord, rec, folder, synthetic"});
  // No path: the error points at the data section (the key itself is absent).
  expect_error([] { parse_train_config("\ndata {\n  format: \"rec\"\n}\n", "t"); },
               {"t:2:1: data.path is required for data.format \"rec\""});
  // Nothing at all: the default format is ofrecord, which needs a path; only the file is named.
  expect_error([] { parse_train_config("", "empty.prototxt"); },
               {"empty.prototxt: data.path is required for data.format \"ofrecord\""});
  // OFRecord parts do not store the class count.
  expect_error([] { parse_train_config("data { path: \"/d\" format: \"ofrecord\" }\n", "t"); },
               {"t:1:1: data.num_classes is required (> 0) for data.format \"ofrecord\""});
  EXPECT_NO_THROW(parse_train_config("data { path: \"/d\" format: \"ofrecord\" num_classes: 10 }\n", "t"));
  // rec and folder datasets know their class count.
  EXPECT_NO_THROW(parse_train_config("data { path: \"/d\" format: \"rec\" }\n", "t"));
  EXPECT_NO_THROW(parse_train_config("data { path: \"/d\" format: \"folder\" }\n", "t"));
}

TEST(ConfigValueErrors, DuplicateValTargetNamesTheSecondEntry) {
  expect_error([] {
    parse_train_config("data {\n  format: \"synthetic\"\n  val_targets: \"lfw\"\n  val_targets: \"lfw\"\n}\n", "t");
  }, {"t:4:3: data.val_targets lists \"lfw\" twice"});
}

}  // namespace
}  // namespace ff::apps::test
