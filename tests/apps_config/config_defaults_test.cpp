// Defaults are arcface_torch's configs/base.py, and the printed config parses back to itself.
#include <gtest/gtest.h>

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <set>

#include "apps/common/train_config_keys.h"
#include "tests/apps_config/config_test_util.h"
#include "train_config.pb.h"

namespace ff::apps::test {
namespace {

TEST(ConfigDefaults, UnsetKeysTakeBasePyValues) {
  const TrainConfig c = parse_train_config(kMinimalConfig, "minimal.prototxt");
  // The recipe base.py shares with the reference configs (with train_v2.py's s = 64).
  expect_arcface_torch_recipe(c);
  // The rest of configs/base.py (face_recognition.md 3.1)
  EXPECT_EQ(c.network, "r50");
  EXPECT_EQ(c.m1, 1.0);
  EXPECT_EQ(c.m2, 0.5);
  EXPECT_EQ(c.m3, 0.0);
  EXPECT_EQ(c.interclass_filtering_threshold, 0.0);
  EXPECT_EQ(c.precision, "fp32");  // fp16 = False
  EXPECT_EQ(c.weight_decay, 5e-4);
  EXPECT_EQ(c.verbose, 2000);
  EXPECT_EQ(c.frequent, 10);
  EXPECT_EQ(c.gradient_acc, 1);
  EXPECT_EQ(c.seed, 2048u);
  EXPECT_EQ(c.num_workers, 2);
  EXPECT_FALSE(c.skip_bad_records);
  EXPECT_FALSE(c.resume);
  // train_v2.py: clip_grad_norm_(backbone, 5).
  EXPECT_EQ(c.clip_grad_norm, 5.0);
  // Per-dataset values that base.py leaves to the dataset configs.
  EXPECT_EQ(c.num_epoch, 20);
  EXPECT_TRUE(c.val_targets.empty());
  EXPECT_EQ(c.source_file, "minimal.prototxt");
}

TEST(ConfigDefaults, SyntheticFormatFillsPathAndSizes) {
  const TrainConfig c = parse_train_config(
      "data { format: \"synthetic\" synthetic_identities: 30 synthetic_images_per_identity: 5 }", "s");
  EXPECT_EQ(c.data_path, "data/synthetic");
  EXPECT_EQ(c.num_classes, 30);
  EXPECT_EQ(c.num_image, 150);
  // Given values are kept.
  const TrainConfig d = parse_train_config(
      "data { format: \"synthetic\" path: \"/tmp/s\" num_classes: 40 synthetic_identities: 30 }", "s");
  EXPECT_EQ(d.data_path, "/tmp/s");
  EXPECT_EQ(d.num_classes, 40);
  // Other formats keep 0 = read from the dataset.
  const TrainConfig r = parse_train_config("data { format: \"rec\" path: \"/d\" }", "r");
  EXPECT_EQ(r.num_classes, 0);
  EXPECT_EQ(r.num_image, 0);
}

TEST(ConfigRoundTrip, PrintedTextHasEveryKeyAndParsesBackToTheSameConfig) {
  const TrainConfig c = parse_train_config(
      kMinimalConfig, "rt.prototxt",
      {"model.network=r18", "model.embedding_size=128", "model.dropout=0.25", "model.width_divisor=4",
       "model.input_size=64", "margin.m1=1.0", "margin.m2=0.3", "margin.m3=0.2", "margin.s=32.5",
       "margin.sample_rate=0.3", "margin.interclass_filtering_threshold=0.4", "precision=bf16", "device=cpu",
       "optimizer.type=adamw", "optimizer.batch_size=48", "optimizer.lr=0.001", "optimizer.momentum=0.1",
       "optimizer.weight_decay=0.1", "optimizer.num_epoch=2.5", "optimizer.warmup_epoch=0.7",
       "optimizer.gradient_acc=3", "optimizer.clip_grad_norm=0", "optimizer.seed=18446744073709551615",
       "optimizer.max_steps=77", "data.path=/d/\"x\"", "data.num_classes=1234", "data.num_image=999",
       "data.val_targets=lfw,cfp_fp", "data.val_dir=/v", "data.num_workers=0", "data.image_dtype=fp16",
       "data.skip_bad_records=true", "data.synthetic_identities=12", "data.synthetic_images_per_identity=3",
       "logging.verbose=0",
       "logging.frequent=1", "logging.output=o", "logging.resume=true", "logging.save_every_steps=5",
       "logging.save_all_states=false"});
  EXPECT_TRUE(c.skip_bad_records);
  EXPECT_EQ(c.image_dtype, "fp16");
  const std::string text = train_config_to_text(c);
  // Every key is printed, defaults included.
  proto::TrainConfigProto printed;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &printed)) << text;
  const google::protobuf::Descriptor* top = proto::TrainConfigProto::descriptor();
  for (int i = 0; i < top->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = top->field(i);
    ASSERT_TRUE(printed.GetReflection()->HasField(printed, f)) << f->name();
    if (f->message_type() == nullptr) continue;
    const google::protobuf::Message& section = printed.GetReflection()->GetMessage(printed, f);
    for (int j = 0; j < f->message_type()->field_count(); ++j) {
      const google::protobuf::FieldDescriptor* key = f->message_type()->field(j);
      if (key->is_repeated()) {
        EXPECT_GT(section.GetReflection()->FieldSize(section, key), 0) << f->name() << "." << key->name();
      } else {
        EXPECT_TRUE(section.GetReflection()->HasField(section, key)) << f->name() << "." << key->name();
      }
    }
  }
  const TrainConfig back = parse_train_config(text, "printed.prototxt");
  expect_same_config(c, back);
  EXPECT_EQ(back.source_file, "printed.prototxt");
  // The printed form of the re-read config is the same text, apart from the source named in the
  // header comment.
  TrainConfig back_named = back;
  back_named.source_file = c.source_file;
  EXPECT_EQ(train_config_to_text(back_named), text);
}

TEST(ConfigRoundTrip, DefaultsRoundTrip) {
  const TrainConfig c = parse_train_config(kMinimalConfig, "d");
  expect_same_config(c, parse_train_config(train_config_to_text(c), "d"));
}

TEST(ConfigBindings, EveryProtoKeyHasExactlyOneMember) {
  // A key added to train_config.proto without a row in train_config.cpp's binding table would be
  // accepted by the parser and then silently ignored.
  std::set<std::string> proto_keys;
  const google::protobuf::Descriptor* top = proto::TrainConfigProto::descriptor();
  for (int i = 0; i < top->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = top->field(i);
    if (f->message_type() == nullptr) {
      proto_keys.insert(f->name());
      continue;
    }
    for (int j = 0; j < f->message_type()->field_count(); ++j) {
      proto_keys.insert(f->name() + "." + f->message_type()->field(j)->name());
    }
  }
  const std::vector<std::string> bound = config_detail::bound_keys();
  const std::set<std::string> bound_set(bound.begin(), bound.end());
  EXPECT_EQ(bound_set.size(), bound.size()) << "a key is bound twice";
  EXPECT_EQ(bound_set, proto_keys);
  EXPECT_GT(proto_keys.size(), 30u);  // the walk found the sections' keys
}

}  // namespace
}  // namespace ff::apps::test
