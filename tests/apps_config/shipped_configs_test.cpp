// Every configs/*.prototxt parses, and the reference configs hold arcface_torch's values
// (face_recognition.md 3.2).
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "tests/apps_config/config_test_util.h"

namespace ff::apps::test {
namespace {

TrainConfig load(const std::string& name) { return load_train_config((configs_dir() / name).string()); }

TEST(ShippedConfigs, EveryConfigParsesAndRoundTrips) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(configs_dir())) {
    if (entry.path().extension() != ".prototxt") continue;
    names.insert(entry.path().filename().string());
    SCOPED_TRACE(entry.path().string());
    TrainConfig c;
    ASSERT_NO_THROW(c = load_train_config(entry.path().string()));
    expect_same_config(c, parse_train_config(train_config_to_text(c), "printed"));
  }
  for (const char* required : {"ms1mv3_r100.prototxt", "glint360k_r100.prototxt", "ms1mv3_mbf.prototxt",
                               "synthetic_mbf.prototxt", "synthetic_tiny.prototxt"}) {
    EXPECT_TRUE(names.count(required)) << required << " missing from " << configs_dir();
  }
}

// What tells one reference config from another.
struct Reference {
  std::string network;
  double m1, m2, m3;  // CombinedMarginLoss: ArcFace (1, 0.5, 0), CosFace (1, 0, 0.4)
  double weight_decay;
  int64_t num_classes, num_image;
  double num_epoch;
};

// arcface_torch's reference configs: the shared recipe in fp16 on MXNet .rec data, validated on
// lfw, cfp_fp and agedb_30, plus the values in `want`.
void expect_reference(const TrainConfig& c, const Reference& want) {
  expect_arcface_torch_recipe(c);
  EXPECT_EQ(c.precision, "fp16");
  EXPECT_EQ(c.data_format, "rec");
  EXPECT_EQ(c.val_targets, (std::vector<std::string>{"lfw", "cfp_fp", "agedb_30"}));
  EXPECT_EQ(c.network, want.network);
  EXPECT_EQ(c.m1, want.m1);
  EXPECT_EQ(c.m2, want.m2);
  EXPECT_EQ(c.m3, want.m3);
  EXPECT_EQ(c.weight_decay, want.weight_decay);
  EXPECT_EQ(c.num_classes, want.num_classes);
  EXPECT_EQ(c.num_image, want.num_image);
  EXPECT_EQ(c.num_epoch, want.num_epoch);
}

TEST(ShippedConfigs, Ms1mv3R100) {
  const TrainConfig c = load("ms1mv3_r100.prototxt");
  expect_reference(c, {"r100", 1.0, 0.5, 0.0, /*weight_decay=*/5e-4, /*num_classes=*/93431, /*num_image=*/5179510,
                       /*num_epoch=*/20});
  EXPECT_EQ(c.data_path, "/data/ms1m-retinaface-t1");
}

TEST(ShippedConfigs, Glint360kR100IsCosFaceWithSmallerDecay) {
  expect_reference(load("glint360k_r100.prototxt"), {"r100", 1.0, 0.0, 0.4, /*weight_decay=*/1e-4,
                                                     /*num_classes=*/360232, /*num_image=*/17091657,
                                                     /*num_epoch=*/20});
}

TEST(ShippedConfigs, Ms1mv3MbfTrainsFortyEpochs) {
  expect_reference(load("ms1mv3_mbf.prototxt"), {"mbf", 1.0, 0.5, 0.0, /*weight_decay=*/1e-4, /*num_classes=*/93431,
                                                 /*num_image=*/5179510, /*num_epoch=*/40});
}

TEST(ShippedConfigs, SyntheticConfigsAreSmallCpuRuns) {
  const TrainConfig demo = load("synthetic_mbf.prototxt");
  EXPECT_EQ(demo.network, "mbf");
  EXPECT_EQ(demo.data_format, "synthetic");
  EXPECT_EQ(demo.device, "cpu");
  EXPECT_EQ(demo.num_classes, demo.synthetic_identities);
  EXPECT_GT(demo.max_steps, 0);

  const TrainConfig tiny = load("synthetic_tiny.prototxt");
  EXPECT_EQ(tiny.data_format, "synthetic");
  EXPECT_EQ(tiny.input_size % 16, 0);
  EXPECT_GT(tiny.width_divisor, 1);
  EXPECT_GT(tiny.max_steps, 0);
  EXPECT_LE(tiny.num_image, 1000);
}

}  // namespace
}  // namespace ff::apps::test
