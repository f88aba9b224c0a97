// build/apps/convert_dataset run as a user would: MXNet RecordIO (with and without the .idx) and
// image folders to OFRecord parts (every record once, in order or shuffled reproducibly, labels
// kept), .bin inspection and image dump, and bad input: a damaged record stops the conversion
// naming file and offset (or is skipped and counted with --skip-bad), and a failed conversion
// leaves an existing output directory as it was.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "data/decode/jpeg.h"
#include "data/ofrecord/ofrecord_dataset.h"
#include "data/recordio/mx_face_dataset.h"
#include "data/synthetic/face_renderer.h"
#include "data/verification/verification_bin.h"
#include "tests/common/subprocess.h"

namespace ff::testing {
namespace {

namespace fs = std::filesystem;
using data::FaceExample;

#ifdef FF_CONVERT_BINARY
constexpr const char* kConvert = FF_CONVERT_BINARY;
#else
constexpr const char* kConvert = nullptr;
#endif

// 5 identities x 4 images, grouped by label (insightface's .rec order); every JPEG distinct.
std::vector<FaceExample> examples() {
  std::vector<FaceExample> out;
  for (int32_t label = 0; label < 5; ++label) {
    for (int k = 0; k < 4; ++k) {
      FaceExample e;
      e.label = label;
      e.encoded_jpeg = data::encode_jpeg(data::render_identity_image(7, label, k, 32), 90);
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::vector<FaceExample> read_parts(const std::string& dir, int* num_parts = nullptr) {
  const data::OFRecordDataset ds(dir);
  if (num_parts) *num_parts = ds.num_parts();
  std::vector<FaceExample> out;
  for (int64_t i = 0; i < ds.size(); ++i) out.push_back(ds.get(i));
  return out;
}

bool same_records(const std::vector<FaceExample>& a, const std::vector<FaceExample>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](const FaceExample& x, const FaceExample& y) {
           return x.label == y.label && x.encoded_jpeg == y.encoded_jpeg;
         });
}

class ConvertDataset : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kConvert == nullptr) GTEST_SKIP() << "built without apps/convert_dataset";
  }
  CommandResult convert(const std::string& args) { return run_command(fmt::format("{} {}", kConvert, args)); }
  ScopedTempDir dir_{"ff_apps_convert"};
};

TEST_F(ConvertDataset, RecToOfrecordKeepsEveryRecordInOrderOrShuffledReproducibly) {
  const auto records = examples();
  const std::string rec = dir_.file("train.rec"), idx = dir_.file("train.idx");
  data::write_insightface_rec(rec, idx, records);

  auto r = convert(fmt::format("rec2ofrecord --rec {} --idx {} --out {} --parts 3", rec, idx, dir_.file("plain")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("20 images (header record: 5 identities)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("wrote 20 records into 3 parts"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("labels: 0 .. 4 (num_classes >= 5)"), std::string::npos) << r.output;
  int parts = 0;
  EXPECT_TRUE(same_records(read_parts(dir_.file("plain"), &parts), records));
  EXPECT_EQ(parts, 3);
  EXPECT_FALSE(fs::exists(dir_.file("plain/.convert_dataset.staging")));

  // Without the .idx the .rec is scanned: the same records.
  r = convert(fmt::format("rec2ofrecord --rec {} --out {} --parts 1", rec, dir_.file("scanned")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(same_records(read_parts(dir_.file("scanned")), records));

  // --shuffle: a permutation of the records, the same for the same seed, another for another.
  std::vector<std::vector<FaceExample>> shuffled;
  for (const auto& [name, seed] : std::vector<std::pair<std::string, int>>{{"s5a", 5}, {"s5b", 5}, {"s6", 6}}) {
    r = convert(fmt::format("rec2ofrecord --rec {} --idx {} --out {} --parts 2 --shuffle --seed {}", rec, idx,
                            dir_.file(name), seed));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    shuffled.push_back(read_parts(dir_.file(name)));
  }
  EXPECT_TRUE(same_records(shuffled[0], shuffled[1]));
  EXPECT_FALSE(same_records(shuffled[0], records));
  EXPECT_FALSE(same_records(shuffled[0], shuffled[2]));
  auto sorted = [](std::vector<FaceExample> v) {
    std::sort(v.begin(), v.end(), [](const FaceExample& a, const FaceExample& b) { return a.encoded_jpeg < b.encoded_jpeg; });
    return v;
  };
  EXPECT_TRUE(same_records(sorted(shuffled[0]), sorted(records)));
}

TEST_F(ConvertDataset, FolderToOfrecordNumbersSortedIdentityFolders) {
  const auto records = examples();
  const std::vector<std::string> names = {"alice", "bob", "carol", "dave", "erin"};  // sorted: labels 0..4
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string folder = dir_.file("faces/" + names[static_cast<size_t>(records[i].label)]);
    fs::create_directories(folder);
    const std::vector<uint8_t>& jpeg = records[i].encoded_jpeg;
    write_text(fmt::format("{}/{:03d}.jpg", folder, i), std::string(jpeg.begin(), jpeg.end()));
  }
  fs::create_directories(dir_.file("faces/zed_empty"));
  write_text(dir_.file("faces/alice/notes.txt"), "not an image");
  const auto r = convert(fmt::format("folder2ofrecord --root {} --out {} --parts 2", dir_.file("faces"), dir_.file("out")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("20 images in 6 identity folders (1 empty)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("num_classes: 6"), std::string::npos) << r.output;
  EXPECT_TRUE(same_records(read_parts(dir_.file("out")), records));
}

TEST_F(ConvertDataset, InspectBinCountsPairsAndDumpsTheImagesUnchanged) {
  const auto records = examples();
  data::VerificationSet set;
  for (int i = 0; i < 6; ++i) set.images.push_back(records[static_cast<size_t>(i)].encoded_jpeg);
  set.issame = {true, false, true};
  data::write_verification_bin(dir_.file("lfw.bin"), set);
  const auto r = convert(fmt::format("inspect-bin --bin {} --dump 4 --out {}", dir_.file("lfw.bin"), dir_.file("dump")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("6 images, 3 pairs (2 same, 1 different)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("0 not starting with a JPEG marker"), std::string::npos) << r.output;
  for (int i = 0; i < 4; ++i) {
    const std::string dumped = read_text(fmt::format("{}/{:05d}.jpg", dir_.file("dump"), i));
    EXPECT_EQ(dumped, std::string(set.images[static_cast<size_t>(i)].begin(), set.images[static_cast<size_t>(i)].end()))
        << i;
  }
  EXPECT_FALSE(fs::exists(dir_.file("dump/00004.jpg")));
}

TEST_F(ConvertDataset, ADamagedRecordStopsTheConversionAndLeavesTheOutputAsItWas) {
  auto records = examples();
  const std::string rec = dir_.file("train.rec"), idx = dir_.file("train.idx");
  data::write_insightface_rec(rec, idx, records);
  // An earlier conversion's parts in the output directory.
  ASSERT_EQ(convert(fmt::format("rec2ofrecord --rec {} --idx {} --out {} --parts 2", rec, idx, dir_.file("out"))).exit_code,
            0);
  const std::string old_part0 = read_text(dir_.file("out/part-00000"));

  // Damage record 7's RecordIO magic in the file (the .idx still points at it).
  const data::MXFaceDataset ds(rec, data::MXFaceDatasetOptions{idx});
  std::string bytes = read_text(rec);
  bytes[ds.offset(7)] ^= 0x5A;
  write_text(rec, bytes);

  auto r = convert(fmt::format("rec2ofrecord --rec {} --idx {} --out {} --parts 3", rec, idx, dir_.file("out")));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("already holds part files"), std::string::npos) << r.output;  // no --overwrite
  r = convert(fmt::format("rec2ofrecord --rec {} --idx {} --out {} --parts 3 --overwrite", rec, idx, dir_.file("out")));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(rec), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(fmt::format("offset {}", ds.offset(7))), std::string::npos) << r.output;
  // The failed run removed nothing and left no staging directory or third part behind.
  EXPECT_EQ(read_text(dir_.file("out/part-00000")), old_part0);
  EXPECT_TRUE(fs::exists(dir_.file("out/part-00001")));
  EXPECT_FALSE(fs::exists(dir_.file("out/part-00002")));
  EXPECT_FALSE(fs::exists(dir_.file("out/.convert_dataset.staging")));

  // --skip-bad: the other 19 records, the damaged one counted and named.
  r = convert(fmt::format("rec2ofrecord --rec {} --idx {} --out {} --parts 3 --overwrite --skip-bad", rec, idx,
                          dir_.file("out")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote 19 records into 3 parts"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bad records: 1 bad record"), std::string::npos) << r.output;
  records.erase(records.begin() + 7);
  EXPECT_TRUE(same_records(read_parts(dir_.file("out")), records));
}

TEST_F(ConvertDataset, BadCommandLinesAreUsageErrors) {
  auto r = convert("rec2ofrecord --out /tmp/x");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("missing required option --rec"), std::string::npos) << r.output;
  r = convert(fmt::format("rec2ofrecord --rec {} --out {} --parts 0", dir_.file("none.rec"), dir_.file("o")));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--parts must be >= 1"), std::string::npos) << r.output;
  r = convert(fmt::format("rec2ofrecord --rec {} --out {}", dir_.file("none.rec"), dir_.file("o")));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(dir_.file("none.rec")), std::string::npos) << r.output;
  r = convert("frobnicate");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

}  // namespace
}  // namespace ff::testing
