// End to end: a synthetic lfw-style .bin and a tiny saved backbone, evaluated in-process with
// evaluate_backbone and by the val binary (FF_VAL_BINARY), whose table and ROC CSV must agree.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "apps/common/model_io.h"
#include "apps/common/verification_eval.h"
#include "data/decode/face_decode.h"
#include "data/loader/augment.h"
#include "data/synthetic/synthetic_dataset.h"
#include "models/model_factory.h"
#include "ops/tensor_ops/random.h"
#include "tests/apps_val/val_test_util.h"

#ifndef FF_VAL_BINARY
#error "FF_VAL_BINARY (path of the val executable) is set by tests/CMakeLists.txt"
#endif

namespace ff::apps {
namespace {

using ff::testing::run_command;
using ff::testing::ValTempDir;

constexpr int kImageSize = 32;

data::SyntheticOptions small_synthetic() {
  data::SyntheticOptions o;
  o.num_identities = 10;
  o.images_per_identity = 2;
  o.image_size = kImageSize;
  o.val_identities = 20;
  o.val_pairs = 40;  // 4 pairs per fold
  o.seed = 5;
  return o;
}

models::BackboneOptions tiny_options() {
  return models::BackboneOptions().set_width_divisor(8).set_input_size(kImageSize).set_embedding_size(16);
}

// Writes lfw.bin and cfp_fp.bin (synthetic validation sets 0 and 1) and model.safetensors.
struct Fixture {
  ValTempDir dir{"e2e"};
  data::VerificationSet lfw, cfp;
  std::string model;
  Fixture() {
    const data::SyntheticOptions o = small_synthetic();
    lfw = data::make_synthetic_verification_set(o, 0);
    cfp = data::make_synthetic_verification_set(o, 1);
    data::write_verification_bin(dir.file("lfw.bin"), lfw);
    data::write_verification_bin(dir.file("cfp_fp.bin"), cfp);
    Generator gen(21);
    auto backbone = std::dynamic_pointer_cast<models::Backbone>(
        models::create_backbone("r18", tiny_options().set_generator(&gen)));
    model = dir.file("model.safetensors");
    save_backbone(model, *backbone);
  }
};

// The whitespace-separated fields of the output line whose first field is `name`.
std::vector<std::string> table_row(const std::string& output, const std::string& name) {
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    std::string field;
    while (fields >> field) f.push_back(field);
    if (!f.empty() && f[0] == name) return f;
  }
  return {};
}

TEST(ValEndToEnd, LoadValidationTargetDecodesLikeTheLoader) {
  Fixture fx;
  const ValidationTarget t = load_validation_target(fx.dir.file("lfw.bin"), kImageSize);
  EXPECT_EQ(t.name, "lfw");
  EXPECT_EQ(t.path, fx.dir.file("lfw.bin"));
  ASSERT_EQ(t.images.sizes(), Shape({80, 3, kImageSize, kImageSize}));
  EXPECT_EQ(t.issame, fx.lfw.issame);

  // Image 3 against a direct decode + (x - 127.5) / 127.5 in CHW order.
  data::RgbImage image, scratch;
  data::decode_face_image(fx.lfw.images[3].data(), fx.lfw.images[3].size(), "image 3", kImageSize, kImageSize, image,
                          scratch);
  std::vector<float> expected(3 * kImageSize * kImageSize);
  data::to_normalized_chw(image, false, expected.data());
  const float* got = t.images.data<float>() + 3 * expected.size();
  for (size_t i = 0; i < expected.size(); ++i) ASSERT_EQ(got[i], expected[i]) << "element " << i;
  // Red channel of pixel (0, 0) is element 0; green of it is one plane later.
  EXPECT_EQ(got[0], data::normalize_pixel(image.pixel(0, 0)[0]));
  EXPECT_EQ(got[kImageSize * kImageSize], data::normalize_pixel(image.pixel(0, 0)[1]));

  // Another size is resized on load.
  const ValidationTarget small = load_validation_target(fx.dir.file("lfw.bin"), 16);
  EXPECT_EQ(small.images.sizes(), Shape({80, 3, 16, 16}));
}

TEST(ValEndToEnd, BinaryTableAndRocMatchTheLibrary) {
  Fixture fx;
  auto backbone = load_backbone(fx.model, "r18", tiny_options());
  VerificationOptions options;
  options.batch_size = 16;
  const VerificationResult lfw = evaluate_backbone(*backbone, load_validation_target(fx.dir.file("lfw.bin"), kImageSize),
                                                   options);
  const VerificationResult cfp =
      evaluate_backbone(*backbone, load_validation_target(fx.dir.file("cfp_fp.bin"), kImageSize), options);
  for (const VerificationResult* r : {&lfw, &cfp}) {
    ASSERT_EQ(r->fold_accuracies.size(), 10u);
    for (double a : r->fold_accuracies) {
      // 4 pairs per fold: accuracies are multiples of 1/4.
      EXPECT_NEAR(a * 4, std::round(a * 4), 1e-12);
    }
    EXPECT_GT(r->xnorm, 0.0);
  }

  const std::string csv = fx.dir.file("roc.csv");
  const std::string command =
      fmt::format("{} --model {} --network r18 --width-divisor 8 --image-size {} --data {} --targets lfw,cfp_fp "
                  "--device cpu --batch-size 16 --roc-csv {}",
                  FF_VAL_BINARY, fx.model, kImageSize, fx.dir.path(), csv);
  const auto run = run_command(command);
  ASSERT_EQ(run.exit_code, 0) << run.output;

  // Header: network and parameter count first.
  const auto header = table_row(run.output, "network:");
  ASSERT_GE(header.size(), 4u) << run.output;
  EXPECT_EQ(header[1], "r18");
  std::string params = header[3];
  params.erase(std::remove(params.begin(), params.end(), ','), params.end());
  EXPECT_EQ(std::stoll(params), backbone->num_parameters());
  ASSERT_FALSE(table_row(run.output, "target").empty()) << run.output;
  EXPECT_NE(run.output.find("Accuracy-Flip"), std::string::npos);

  for (const auto& [name, r] : {std::make_pair(std::string("lfw"), &lfw), std::make_pair(std::string("cfp_fp"), &cfp)}) {
    const auto row = table_row(run.output, name);
    ASSERT_EQ(row.size(), 6u) << run.output;
    EXPECT_EQ(row[1], "40");
    EXPECT_EQ(row[2], fmt::format("{:.5f}+-{:.5f}", r->accuracy_mean, r->accuracy_std));
    EXPECT_NEAR(std::stod(row[3]), r->xnorm, 1e-3 * r->xnorm + 1e-5);  // 5 decimals or 4 significant digits
    EXPECT_NEAR(std::stod(row[4]), r->best_threshold, 5e-4);
  }

  // ROC CSV: a header and 400 rows per target, in target order.
  std::istringstream lines(ff::testing::read_text(csv));
  std::string line;
  std::vector<std::string> all;
  while (std::getline(lines, line)) all.push_back(line);
  ASSERT_EQ(all.size(), 801u);
  EXPECT_EQ(all[0], "target,threshold,tpr,fpr");
  EXPECT_EQ(all[1], "lfw,0.00,0.000000,0.000000");
  EXPECT_EQ(all[151], fmt::format("lfw,1.50,{:.6f},{:.6f}", lfw.tpr[150], lfw.fpr[150]));
  EXPECT_EQ(all[400], fmt::format("lfw,3.99,{:.6f},{:.6f}", lfw.tpr[399], lfw.fpr[399]));
  EXPECT_EQ(all[401 + 120], fmt::format("cfp_fp,1.20,{:.6f},{:.6f}", cfp.tpr[120], cfp.fpr[120]));
}

TEST(ValEndToEnd, RandomInitAndNoFlip) {
  Fixture fx;
  const auto run = run_command(fmt::format("{} --random-init --seed 3 --network r18 --width-divisor 8 --image-size {} "
                                           "--embedding-size 16 --data {} --targets lfw --no-flip --device auto",
                                           FF_VAL_BINARY, kImageSize, fx.dir.path()));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("random init (seed 3)"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("flip: no"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("Accuracy-Flip"), std::string::npos) << run.output;
  const auto row = table_row(run.output, "lfw");
  ASSERT_EQ(row.size(), 6u) << run.output;
  EXPECT_EQ(row[1], "40");
  // Accuracy with its std, in [0, 1].
  const double acc = std::stod(row[2].substr(0, row[2].find("+-")));
  EXPECT_GE(acc, 0.0);
  EXPECT_LE(acc, 1.0);
}

}  // namespace
}  // namespace ff::apps
