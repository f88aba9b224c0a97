// The synthetic-identity generator: determinism, identity/image structure, held-out validation
// pairs, and the files it writes (read back with the OFRecord and .bin readers).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <unistd.h>

#include "data/decode/jpeg.h"
#include "data/loader/data_loader.h"
#include "data/ofrecord/ofrecord_dataset.h"
#include "data/synthetic/synthetic_dataset.h"
#include "framework/common/check.h"
#include "framework/core/parallel.h"
#include "framework/io/json.h"

namespace ff::data {
namespace {

SyntheticOptions tiny() {
  SyntheticOptions o;
  o.num_identities = 6;
  o.images_per_identity = 4;
  o.val_identities = 5;
  o.val_pairs = 40;
  o.num_parts = 3;
  o.seed = 123;
  return o;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct TempDir {
  std::string path;
  explicit TempDir(const std::string& name)
      : path((std::filesystem::temp_directory_path() / ("ff_h8_" + name + "_" + std::to_string(::getpid()))).string()) {
    std::filesystem::remove_all(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(Synthetic, DeterministicForASeedAndThreadCount) {
  const SyntheticOptions o = tiny();
  const int threads = get_num_threads();
  set_num_threads(1);
  const auto one_thread = make_synthetic_train_examples(o);
  set_num_threads(2);
  const auto two_threads = make_synthetic_train_examples(o);
  set_num_threads(threads);
  ASSERT_EQ(one_thread.size(), 24u);
  for (size_t i = 0; i < one_thread.size(); ++i) {
    ASSERT_EQ(one_thread[i].encoded_jpeg, two_threads[i].encoded_jpeg) << "image " << i;
    ASSERT_EQ(one_thread[i].label, static_cast<int32_t>(i / 4));  // identity-major
  }
  SyntheticOptions other = o;
  other.seed = 124;
  EXPECT_NE(make_synthetic_train_examples(other)[0].encoded_jpeg, one_thread[0].encoded_jpeg);
}

TEST(Synthetic, ImagesAre112JpegsAndEveryImageDiffers) {
  const auto examples = make_synthetic_train_examples(tiny());
  std::set<std::vector<uint8_t>> distinct;
  for (const auto& e : examples) {
    const RgbImage img = decode_jpeg(e.encoded_jpeg, "synthetic");
    EXPECT_EQ(img.height, 112);
    EXPECT_EQ(img.width, 112);
    distinct.insert(e.encoded_jpeg);
  }
  EXPECT_EQ(distinct.size(), examples.size());
}

TEST(Synthetic, IdentitiesHaveDistinctParameters) {
  std::set<uint32_t> glyphs;
  std::set<int> eye_spacings;
  for (int64_t id = 0; id < 200; ++id) {
    const FaceIdentity f = make_face_identity(9, id);
    glyphs.insert(f.glyph);
    eye_spacings.insert(static_cast<int>(f.eye_dx * 1000));
    EXPECT_GT(f.mouth_y, f.eye_y);
    EXPECT_LT(f.hairline, f.eye_y - f.brow_gap);
  }
  EXPECT_GT(glyphs.size(), 100u);  // 8-bit codes: ~176 distinct expected for 200 draws
  EXPECT_GT(eye_spacings.size(), 80u);
  // Same identity, same parameters; the image jitter is what changes.
  EXPECT_EQ(make_face_identity(9, 5).glyph, make_face_identity(9, 5).glyph);
  EXPECT_NE(make_face_jitter(9, 5, 0).angle, make_face_jitter(9, 5, 1).angle);
}

TEST(Synthetic, ValidationPairsUseHeldOutIdentitiesInLfwOrder) {
  const SyntheticOptions o = tiny();
  std::set<int64_t> used_by_earlier_sets;
  for (int s = 0; s < static_cast<int>(o.validation.size()); ++s) {
    const int64_t base = synthetic_validation_identity_base(o, s);
    EXPECT_GE(base, o.num_identities);
    const auto pairs = make_synthetic_pairs(o, s);
    ASSERT_EQ(pairs.size(), 40u);
    std::set<int64_t> ids;
    for (size_t p = 0; p < pairs.size(); ++p) {
      // Per fold of 4 pairs: 2 same then 2 different.
      EXPECT_EQ(pairs[p].same, (p % 4) < 2) << "pair " << p;
      EXPECT_EQ(pairs[p].same, pairs[p].a == pairs[p].b);
      for (int64_t id : {pairs[p].a, pairs[p].b}) {
        EXPECT_GE(id, base);
        EXPECT_LT(id, base + o.val_identities);
        EXPECT_FALSE(used_by_earlier_sets.count(id)) << "identity " << id << " in two validation sets";
        ids.insert(id);
      }
    }
    used_by_earlier_sets.insert(ids.begin(), ids.end());
    const VerificationSet set = make_synthetic_verification_set(o, s);
    ASSERT_EQ(set.images.size(), 80u);
    ASSERT_EQ(set.issame.size(), 40u);
    // Image 2p+1 is identity b's rendering with image index 2p+1, with the set's jitter.
    const auto expected = encode_jpeg(render_identity_image(o.seed, pairs[3].b, 7, 112, o.validation[s].strength), 95);
    EXPECT_EQ(set.images[7], expected);
  }
}

TEST(Synthetic, WritesOFRecordPartsBinsAndMetadataThatReadBack) {
  const SyntheticOptions o = tiny();
  TempDir dir("synthetic");
  const SyntheticDatasetFiles files = write_synthetic_dataset(dir.path, o);
  ASSERT_EQ(files.train_parts.size(), 3u);
  ASSERT_EQ(files.validation_bins.size(), 3u);
  EXPECT_EQ(files.num_classes, 6);
  EXPECT_EQ(files.num_images, 24);

  OFRecordDatasetOptions ro;
  ro.num_parts = 3;
  ro.num_classes = 6;
  auto train = std::make_shared<OFRecordDataset>(dir.path + "/train", ro);
  ASSERT_EQ(train->size(), 24);
  // The same examples, shuffled across parts.
  const auto expected = make_synthetic_train_examples(o);
  std::map<std::vector<uint8_t>, int32_t> want;
  for (const auto& e : expected) want[e.encoded_jpeg] = e.label;
  bool shuffled = false;
  for (int64_t i = 0; i < train->size(); ++i) {
    const FaceExample e = train->get(i);
    ASSERT_TRUE(want.count(e.encoded_jpeg)) << "record " << i;
    EXPECT_EQ(want[e.encoded_jpeg], e.label);
    shuffled |= e.encoded_jpeg != expected[i].encoded_jpeg;
  }
  EXPECT_TRUE(shuffled);

  for (size_t s = 0; s < files.validation_bins.size(); ++s) {
    const VerificationSet read = read_verification_bin(files.validation_bins[s]);
    const VerificationSet made = make_synthetic_verification_set(o, static_cast<int>(s));
    EXPECT_EQ(read.images, made.images);
    EXPECT_EQ(read.issame, made.issame);
  }
  EXPECT_EQ(files.validation_bins[0], dir.path + "/val/lfw.bin");

  const json::Value meta = json::parse(slurp(files.metadata), files.metadata);
  ASSERT_TRUE(meta.is_object());
  std::map<std::string, json::Value> fields(meta.object.begin(), meta.object.end());
  EXPECT_EQ(fields["num_classes"].integer, 6);
  EXPECT_EQ(fields["num_images"].integer, 24);
  EXPECT_EQ(fields["val_targets"].array.size(), 3u);

  // Byte-identical when written again.
  TempDir again("synthetic_again");
  const SyntheticDatasetFiles files2 = write_synthetic_dataset(again.path, o);
  for (size_t p = 0; p < files.train_parts.size(); ++p) EXPECT_EQ(slurp(files.train_parts[p]), slurp(files2.train_parts[p]));
  EXPECT_EQ(slurp(files.validation_bins[1]), slurp(files2.validation_bins[1]));

  // And the loader reads it end to end.
  LoaderOptions lo;
  lo.batch_size = 8;
  DataLoader loader(train, lo);
  loader.start_epoch(0);
  Batch b;
  int batches = 0;
  while (loader.next(b)) {
    EXPECT_EQ(b.images.sizes(), (Shape{8, 3, 112, 112}));
    ++batches;
  }
  EXPECT_EQ(batches, 3);
}

TEST(Synthetic, RejectsBadOptions) {
  SyntheticOptions o = tiny();
  o.val_pairs = 30;
  EXPECT_THROW(make_synthetic_pairs(o, 0), Error);
  o = tiny();
  o.jpeg_quality = 0;
  EXPECT_THROW(make_synthetic_train_examples(o), Error);
  o = tiny();
  EXPECT_THROW(make_synthetic_pairs(o, 3), Error);
}

}  // namespace
}  // namespace ff::data
