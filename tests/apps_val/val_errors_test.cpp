// Bad input to load_validation_target and to the val binary: every error names the file (or the
// flag / network) at fault, and val exits non-zero instead of crashing.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <string>

#include "apps/common/model_io.h"
#include "apps/common/verification_eval.h"
#include "data/decode/jpeg.h"
#include "data/verification/verification_bin.h"
#include "framework/common/check.h"
#include "models/model_factory.h"
#include "tests/apps_val/val_test_util.h"

namespace ff::apps {
namespace {

using ff::testing::run_command;
using ff::testing::ValTempDir;

// Runs f, expects an ff::Error whose message contains every one of `needles`.
template <typename F>
void expect_error_naming(F&& f, std::initializer_list<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "expected an ff::Error";
  } catch (const Error& e) {
    for (const std::string& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

std::vector<uint8_t> grey_jpeg(int size) {
  data::RgbImage image(size, size);
  std::fill(image.pixels.begin(), image.pixels.end(), uint8_t{128});
  return data::encode_jpeg(image, 90);
}

// 10 pairs of valid 16x16 JPEGs.
data::VerificationSet valid_set() {
  data::VerificationSet set;
  for (int i = 0; i < 20; ++i) set.images.push_back(grey_jpeg(16));
  for (int i = 0; i < 10; ++i) set.issame.push_back(i % 2 == 0);
  return set;
}

TEST(ValErrors, MissingCorruptAndTruncatedBins) {
  ValTempDir dir("bins");
  expect_error_naming([&] { load_validation_target(dir.file("lfw.bin"), 16); }, {dir.file("lfw.bin"), "not found"});

  ff::testing::write_text(dir.file("garbage.bin"), "this is not a pickle at all");
  expect_error_naming([&] { load_validation_target(dir.file("garbage.bin"), 16); }, {dir.file("garbage.bin")});

  const std::string full = data::encode_verification_pickle(valid_set());
  ff::testing::write_text(dir.file("truncated.bin"), full.substr(0, full.size() / 2));
  expect_error_naming([&] { load_validation_target(dir.file("truncated.bin"), 16); }, {dir.file("truncated.bin")});

  // A valid pickle whose image 5 is not a JPEG: the error names the file and the image.
  data::VerificationSet bad = valid_set();
  bad.images[5] = {'n', 'o', 't', ' ', 'j', 'p', 'e', 'g'};
  data::write_verification_bin(dir.file("badimage.bin"), bad);
  expect_error_naming([&] { load_validation_target(dir.file("badimage.bin"), 16); },
                      {dir.file("badimage.bin"), "image 5"});

  // The valid set loads.
  data::write_verification_bin(dir.file("good.bin"), valid_set());
  const ValidationTarget t = load_validation_target(dir.file("good.bin"), 16);
  EXPECT_EQ(t.issame.size(), 10u);
  EXPECT_EQ(t.images.sizes(), Shape({20, 3, 16, 16}));
}

// A backbone file says how it was built: its width divisor is taken from it, its input size
// must match the images the caller feeds (or is taken from it when the caller passes 0).
TEST(ValErrors, BackboneFilesCarryWidthDivisorAndInputSize) {
  ValTempDir dir("metadata");
  auto options = models::BackboneOptions().set_width_divisor(8).set_input_size(32).set_embedding_size(8);
  auto trained = std::dynamic_pointer_cast<models::Backbone>(models::create_backbone("mbf", options));
  const std::string model = dir.file("model.safetensors");
  save_backbone(model, *trained);

  // Default options (divisor 1, 112x112): the size is the caller's to fix, and the message says so.
  expect_error_naming([&] { load_backbone(model, "mbf"); },
                      {model, "trained on 32x32 images", "112x112", "--image-size 32"});
  // The right size and no divisor: the divisor comes from the file.
  auto loaded = load_backbone(model, "mbf", models::BackboneOptions().set_input_size(32));
  EXPECT_EQ(loaded->options().width_divisor, 8);
  EXPECT_EQ(loaded->embedding_size(), 8);
  // Input size 0: as trained (what onnx_export asks for).
  EXPECT_EQ(load_backbone(model, "mbf", models::BackboneOptions().set_input_size(0))->input_size(), 32);
}

TEST(ValErrors, BinaryReportsBadArguments) {
  ValTempDir dir("args");
  data::write_verification_bin(dir.file("lfw.bin"), valid_set());
  auto options = models::BackboneOptions().set_width_divisor(8).set_input_size(16).set_embedding_size(8);
  auto backbone = std::dynamic_pointer_cast<models::Backbone>(models::create_backbone("r18", options));
  const std::string model = dir.file("model.safetensors");
  save_backbone(model, *backbone);
  const std::string common =
      fmt::format("{} --width-divisor 8 --image-size 16 --data {} --targets lfw --device cpu", FF_VAL_BINARY, dir.path());

  // Sanity: the good command works (so the failures below are about the one bad argument).
  auto ok = run_command(fmt::format("{} --model {} --network r18", common, model));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;

  auto r = run_command(fmt::format("{} --model {} --network r7", common, model));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("r7"), std::string::npos) << r.output;

  r = run_command(fmt::format("{} --model {} --network r18", common, dir.file("missing.safetensors")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(dir.file("missing.safetensors")), std::string::npos) << r.output;

  // The file holds r18; asking for r34 names the file and both networks.
  r = run_command(fmt::format("{} --model {} --network r34", common, model));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(model), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("r34"), std::string::npos) << r.output;

  ff::testing::write_text(dir.file("garbage.safetensors"), "not safetensors");
  r = run_command(fmt::format("{} --model {} --network r18", common, dir.file("garbage.safetensors")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(dir.file("garbage.safetensors")), std::string::npos) << r.output;

  // A missing target is named before any work is done.
  r = run_command(fmt::format("{} --model {} --network r18 --targets lfw,agedb_30", common, model));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(dir.file("agedb_30.bin")), std::string::npos) << r.output;

  // Usage errors exit 2 and name the flag.
  r = run_command(fmt::format("{} --model {} --network r18 --frobnicate 1", common, model));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--frobnicate"), std::string::npos) << r.output;
  r = run_command(fmt::format("{} --network r18", common));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--random-init"), std::string::npos) << r.output;
  r = run_command(fmt::format("{} --model {} --network r18 --batch-size 0", common, model));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--batch-size"), std::string::npos) << r.output;

  r = run_command(fmt::format("{} --help", FF_VAL_BINARY));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("usage: val"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ff::apps
