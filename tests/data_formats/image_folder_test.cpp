// Image folders: root/<identity>/<image>.jpg, sorted identity names as labels.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/image_folder/image_folder_dataset.h"
#include "tests/data_formats/data_formats_test_util.h"

namespace ff::data {
namespace {

using ff::testing::TempDir;
using ff::testing::write_bytes;

std::string jpeg(uint32_t seed) {
  const auto bytes = ff::testing::fake_jpeg(seed, 50);
  return std::string(bytes.begin(), bytes.end());
}

TEST(ImageFolder, SortedIdentitiesBecomeLabels) {
  TempDir dir;
  for (const char* id : {"m.0b", "m.0a", "m.0c", "empty"}) std::filesystem::create_directory(dir.file(id));
  write_bytes(dir.file("m.0b/2.jpg"), jpeg(1));
  write_bytes(dir.file("m.0b/1.JPEG"), jpeg(2));
  write_bytes(dir.file("m.0a/x.jpeg"), jpeg(3));
  write_bytes(dir.file("m.0c/a.jpg"), jpeg(4));
  write_bytes(dir.file("m.0c/notes.txt"), "ignored");
  write_bytes(dir.file("m.0c/b.png"), "ignored: JPEG only");
  write_bytes(dir.file("stray.jpg"), jpeg(5));  // not inside an identity folder: ignored

  ImageFolderDataset ds(dir.path());
  EXPECT_EQ(ds.identity_names(), (std::vector<std::string>{"empty", "m.0a", "m.0b", "m.0c"}));
  EXPECT_EQ(ds.num_identities(), 4);
  EXPECT_EQ(ds.empty_identities(), 1);
  ASSERT_EQ(ds.size(), 4);
  EXPECT_EQ(ds.path(0), dir.file("m.0a/x.jpeg"));
  EXPECT_EQ(ds.path(1), dir.file("m.0b/1.JPEG"));
  EXPECT_EQ(ds.path(2), dir.file("m.0b/2.jpg"));
  const std::vector<int32_t> labels{1, 2, 2, 3};
  const std::vector<uint32_t> seeds{3, 2, 1, 4};
  for (int64_t i = 0; i < 4; ++i) {
    const FaceExample e = ds.get(i);
    EXPECT_EQ(e.label, labels[static_cast<size_t>(i)]);
    EXPECT_EQ(e.encoded_jpeg, ff::testing::fake_jpeg(seeds[static_cast<size_t>(i)], 50));
  }
  EXPECT_FF_ERROR(ds.get(4), "out of range");
}

TEST(ImageFolder, BadImagesThrowOrAreSkipped) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("a"));
  write_bytes(dir.file("a/1.jpg"), jpeg(1));
  write_bytes(dir.file("a/2.jpg"), "PNG?");
  write_bytes(dir.file("a/3.jpg"), "");
  write_bytes(dir.file("a/4.jpg"), jpeg(4));
  ImageFolderDataset strict(dir.path());
  EXPECT_FF_ERROR(strict.get(1), dir.file("a/2.jpg"), "image 1", "does not start with a JPEG marker");
  EXPECT_FF_ERROR(strict.get(2), dir.file("a/3.jpg"), "is empty");
  ImageFolderOptions opts;
  opts.on_bad_record = OnBadRecord::SkipAndCount;
  ImageFolderDataset lenient(dir.path(), opts);
  EXPECT_EQ(lenient.get(1).encoded_jpeg, ff::testing::fake_jpeg(4, 50));
  EXPECT_EQ(lenient.bad_records().count(), 2);
}

TEST(ImageFolder, LayoutErrors) {
  TempDir dir;
  EXPECT_FF_ERROR(ImageFolderDataset(dir.file("none")), "is not a directory");
  EXPECT_FF_ERROR(ImageFolderDataset(dir.path()), "no identity folders");
  std::filesystem::create_directory(dir.file("a"));
  EXPECT_FF_ERROR(ImageFolderDataset(dir.path()), "no .jpg/.jpeg files");
  EXPECT_TRUE(is_jpeg_file_name("a.JpG"));
  EXPECT_FALSE(is_jpeg_file_name(".jpg"));
  EXPECT_FALSE(is_jpeg_file_name("a.png"));
}

}  // namespace
}  // namespace ff::data
