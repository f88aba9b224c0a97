// --set key=value overrides: dotted keys, lists replaced, flat arcface_torch names, and errors
// that name the override.
#include <gtest/gtest.h>

#include "tests/apps_config/config_test_util.h"

namespace ff::apps::test {
namespace {

const std::string kBase =
    "optimizer { lr: 0.1 }\n"
    "data {\n"
    "  format: \"synthetic\"\n"
    "  val_targets: \"lfw\"\n"
    "  val_targets: \"cfp_fp\"\n"
    "  val_targets: \"agedb_30\"\n"
    "}\n";

TrainConfig with(const std::vector<std::string>& overrides) {
  return parse_train_config(kBase, "base.prototxt", overrides);
}

TEST(ConfigOverrides, DottedKeysSetValuesOfEveryType) {
  const TrainConfig c = with({"optimizer.lr=0.05", "model.network=r18", "optimizer.batch_size=64",
                              "logging.resume=true", "optimizer.seed=7", "precision=bf16", "device=cpu"});
  EXPECT_EQ(c.lr, 0.05);
  EXPECT_EQ(c.network, "r18");
  EXPECT_EQ(c.batch_size, 64);
  EXPECT_TRUE(c.resume);
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.precision, "bf16");
  EXPECT_EQ(c.device, "cpu");
  // Untouched keys keep the file's values.
  EXPECT_EQ(c.val_targets.size(), 3u);
}

TEST(ConfigOverrides, ListsAreReplacedNotAppended) {
  EXPECT_EQ(with({"data.val_targets=lfw,cfp_fp"}).val_targets, (std::vector<std::string>{"lfw", "cfp_fp"}));
  EXPECT_EQ(with({"data.val_targets= agedb_30 "}).val_targets, (std::vector<std::string>{"agedb_30"}));
  EXPECT_TRUE(with({"data.val_targets="}).val_targets.empty());
  expect_error([] { with({"data.val_targets=lfw,,cfp_fp"}); },
               {"override 'data.val_targets=lfw,,cfp_fp': empty item in the list for data.val_targets"});
}

TEST(ConfigOverrides, StringsAreVerbatim) {
  const TrainConfig c = with({"data.path=/data/my set/\"q\"\\x", "logging.output=out/run=1"});
  EXPECT_EQ(c.data_path, "/data/my set/\"q\"\\x");
  EXPECT_EQ(c.output, "out/run=1");  // only the first '=' separates key and value
}

TEST(ConfigOverrides, LaterOverridesWin) {
  EXPECT_EQ(with({"optimizer.lr=0.05", "optimizer.lr=0.02"}).lr, 0.02);
}

TEST(ConfigOverrides, FlatArcfaceTorchNames) {
  const TrainConfig c = with({"lr=0.02", "rec=/data/ms1m", "optimizer=adamw", "sample_rate=0.3", "num_epoch=3",
                              "embedding_size=256", "verbose=100"});
  EXPECT_EQ(c.lr, 0.02);
  EXPECT_EQ(c.data_path, "/data/ms1m");
  EXPECT_EQ(c.optimizer, "adamw");
  EXPECT_EQ(c.sample_rate, 0.3);
  EXPECT_EQ(c.num_epoch, 3);
  EXPECT_EQ(c.embedding_size, 256);
  EXPECT_EQ(c.verbose, 100);
}

TEST(ConfigOverrides, BadSyntax) {
  expect_error([] { with({"optimizer.lr"}); }, {"override 'optimizer.lr': expected key=value"});
  expect_error([] { with({"=0.1"}); }, {"override '=0.1': expected key=value"});
  expect_error([] { with({""}); }, {"override '': expected key=value"});
}

TEST(ConfigOverrides, UnknownKeysAndSections) {
  expect_error([] { with({"optimizer.lrr=0.1"}); },
               {"override 'optimizer.lrr=0.1'", "unknown key \"lrr\" in section optimizer", "keys there: type, batch_size, lr"});
  expect_error([] { with({"optimiser.lr=0.1"}); }, {"override 'optimiser.lr=0.1'", "unknown key \"optimiser\" in the top level"});
  expect_error([] { with({"nonsense=1"}); }, {"override 'nonsense=1'", "unknown key \"nonsense\""});
  expect_error([] { with({"model=r18"}); }, {"override 'model=r18'", "model is a section, not a key", "network"});
  expect_error([] { with({"optimizer.lr.x=1"}); }, {"override 'optimizer.lr.x=1'", "optimizer.lr is a key, not a section"});
}

TEST(ConfigOverrides, BadValuesNameTheOverrideAndType) {
  expect_error([] { with({"optimizer.lr=fast"}); },
               {"override 'optimizer.lr=fast': bad value for optimizer.lr (double): Expected double, got: fast"});
  expect_error([] { with({"optimizer.batch_size=1.5"}); },
               {"override 'optimizer.batch_size=1.5': bad value for optimizer.batch_size (int64)", "Expected integer"});
  expect_error([] { with({"logging.resume=maybe"}); }, {"override 'logging.resume=maybe': bad value for logging.resume (bool)"});
  expect_error([] { with({"optimizer.lr="}); }, {"override 'optimizer.lr=': no value for optimizer.lr"});
  // A value cannot smuggle in other keys.
  expect_error([] { with({"optimizer.lr=0.1 } model { network: \"r18\""}); },
               {"override 'optimizer.lr=0.1 } model { network: \"r18\"'", "one double for optimizer.lr"});
  expect_error([] { with({"optimizer.lr=0.1 momentum: 0.5"}); }, {"one double for optimizer.lr"});
}

TEST(ConfigOverrides, RangeErrorsNameTheOverride) {
  expect_error([] { with({"optimizer.lr=-1"}); }, {"override 'optimizer.lr=-1': optimizer.lr must be > 0, got -1"});
  expect_error([] { with({"network=r99"}); }, {"override 'network=r99': model.network \"r99\" is not one of"});
  expect_error([] { with({"data.val_targets=lfw,a/b"}); }, {"override 'data.val_targets=lfw,a/b': data.val_targets \"a/b\""});
  // The file's own bad value is still reported at its line when an override touches another key.
  expect_error([] { parse_train_config("optimizer {\n  lr: -1\n}\n" + std::string(kMinimalConfig), "f", {"optimizer.momentum=0.5"}); },
               {"f:2:3: optimizer.lr must be > 0"});
  // ... and an override can fix it.
  EXPECT_EQ(parse_train_config("optimizer {\n  lr: -1\n}\n" + std::string(kMinimalConfig), "f", {"optimizer.lr=0.3"}).lr, 0.3);
}

}  // namespace
}  // namespace ff::apps::test
