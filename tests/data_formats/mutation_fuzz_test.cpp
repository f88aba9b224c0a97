// Deterministic mutation fuzzing of every reader and of the JPEG decoder: valid files are
// damaged (bit flips, interesting integers, truncations, insertions, deletions) a few thousand
// times, and every read must either succeed or throw ff::Error: no crash, no other exception,
// no hang, no huge allocation. Runs with the normal suite (under ASan/UBSan in the sanitizer
// builds); the coverage-guided libFuzzer harnesses in fuzz/ go further when clang is available.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "data/decode/face_decode.h"
#include "data/decode/resize.h"
#include "data/ofrecord/ofrecord_codec.h"
#include "data/ofrecord/ofrecord_dataset.h"
#include "data/recordio/mx_face_dataset.h"
#include "data/verification/verification_bin.h"
#include "tests/data_formats/data_formats_test_util.h"
#include "tests/data_formats/pickle_fixtures.h"

namespace ff::data {
namespace {

using ff::testing::hex_bytes;
using ff::testing::read_bytes;
using ff::testing::TempDir;
using ff::testing::write_bytes;

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  uint32_t below(uint32_t n) { return n == 0 ? 0 : static_cast<uint32_t>(rng_() % n); }

  std::string mutate(std::string s) {
    const int rounds = 1 + static_cast<int>(below(3));
    for (int r = 0; r < rounds; ++r) mutate_once(s);
    return s;
  }

 private:
  void mutate_once(std::string& s) {
    const uint32_t kind = below(7);
    const uint32_t n = static_cast<uint32_t>(s.size());
    if (n == 0) {
      s.push_back(static_cast<char>(rng_()));
      return;
    }
    switch (kind) {
      case 0:  // bit flips
        for (uint32_t i = 0, k = 1 + below(8); i < k; ++i) s[below(n)] ^= static_cast<char>(1u << below(8));
        break;
      case 1: {  // interesting byte
        const char values[] = {0, '\x7F', '\x80', '\xFF', 1, '(', 'e', '.'};
        s[below(n)] = values[below(8)];
        break;
      }
      case 2: {  // interesting little-endian integer
        const uint64_t values[] = {0, ~uint64_t{0}, 0x7FFFFFFF, 0x80000000, 0xCED7230A, uint64_t{1} << 40,
                                   n, n + 1u, 0x20000000 | 4u, 0x60000000 | 8u};
        const uint64_t v = values[below(10)];
        const uint32_t width = below(2) ? 4 : 8;
        const uint32_t at = below(n);
        for (uint32_t i = 0; i < width && at + i < n; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
        break;
      }
      case 3: s.resize(below(n)); break;  // truncate
      case 4: {                           // insert random bytes
        std::string junk(1 + below(16), '\0');
        for (char& c : junk) c = static_cast<char>(rng_());
        s.insert(below(n + 1), junk);
        break;
      }
      case 5: {  // delete a slice
        const uint32_t at = below(n);
        s.erase(at, 1 + below(std::min<uint32_t>(32, n - at)));
        break;
      }
      default: {  // duplicate a slice
        const uint32_t at = below(n);
        const std::string slice = s.substr(at, 1 + below(64));
        s.insert(below(n + 1), slice);
      }
    }
  }

  std::mt19937 rng_;  // fully specified by the standard: the same sequence everywhere
};

// Runs fn; only success or ff::Error is acceptable, and it must not take long.
template <typename Fn>
void expect_error_or_success(const char* what, int iteration, Fn&& fn) {
  const auto start = std::chrono::steady_clock::now();
  try {
    fn();
  } catch (const Error&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << " iteration " << iteration << ": non-ff::Error exception: " << e.what();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0) << what << " iteration " << iteration << " is suspiciously slow";
}

TEST(MutationFuzz, VerificationPickles) {
  std::vector<std::string> seeds = {hex_bytes(ff::testing::kPython3Protocol2),
                                    hex_bytes(ff::testing::kPython3Protocol3),
                                    hex_bytes(ff::testing::kPython3Protocol4),
                                    ff::testing::NumpyPickler().file({"\xFF\xD8" "abc", "xyz"}, {true})};
  VerificationSet set;
  for (int i = 0; i < 6; ++i) set.images.push_back(ff::testing::fake_jpeg(static_cast<uint32_t>(i), 40 + 100 * i));
  set.issame = {true, false, true};
  seeds.push_back(encode_verification_pickle(set));
  Mutator m(1234);
  int loaded = 0;
  for (int it = 0; it < 6000; ++it) {
    const std::string input = m.mutate(seeds[static_cast<size_t>(it) % seeds.size()]);
    expect_error_or_success("pickle", it, [&] {
      decode_verification_pickle(reinterpret_cast<const uint8_t*>(input.data()), input.size(), "fuzz.bin");
      ++loaded;
    });
  }
  EXPECT_GT(loaded, 0);  // some mutations are harmless: the loop exercises the success path too
}

TEST(MutationFuzz, OFRecordBodies) {
  const std::string seed = serialize_face_example(FaceExample{ff::testing::fake_jpeg(1, 60), 42});
  Mutator m(99);
  for (int it = 0; it < 6000; ++it) {
    const std::string body = m.mutate(seed);
    expect_error_or_success("ofrecord body", it, [&] {
      parse_face_example(reinterpret_cast<const uint8_t*>(body.data()), body.size(), RecordRef{"fuzz", it, 0}, 100);
    });
  }
}

TEST(MutationFuzz, OFRecordParts) {
  TempDir dir;
  write_ofrecord_parts(dir.path(), ff::testing::fake_examples(8, 3, 40), 2);
  const std::string seed = read_bytes(dir.file("part-00000"));
  Mutator m(7);
  for (int it = 0; it < 1500; ++it) {
    write_bytes(dir.file("part-00000"), m.mutate(seed));
    for (OnBadRecord mode : {OnBadRecord::Throw, OnBadRecord::SkipAndCount}) {
      expect_error_or_success("ofrecord part", it, [&] {
        OFRecordDatasetOptions opts;
        opts.num_parts = 2;
        opts.num_classes = 3;
        opts.on_bad_record = mode;
        OFRecordDataset ds(dir.path(), opts);
        for (int64_t i = 0; i < ds.size(); ++i) {
          FaceExample e;
          ds.try_get(i, e);
        }
        if (ds.size() > 0) ds.get(0);
      });
    }
  }
}

TEST(MutationFuzz, RecordIO) {
  TempDir dir;
  const std::string rec = dir.file("train.rec"), idx = dir.file("train.idx");
  write_insightface_rec(rec, idx, ff::testing::fake_examples(6, 3, 40), /*label_as_array=*/true);
  const std::string rec_seed = read_bytes(rec), idx_seed = read_bytes(idx);
  Mutator m(2024);
  for (int it = 0; it < 1500; ++it) {
    // Mostly damage the .rec; sometimes the .idx, sometimes both.
    const uint32_t which = m.below(4);
    write_bytes(rec, which == 1 ? rec_seed : m.mutate(rec_seed));
    write_bytes(idx, which >= 1 && which <= 2 ? m.mutate(idx_seed) : idx_seed);
    for (const std::string& idx_path : {idx, std::string()}) {
      for (OnBadRecord mode : {OnBadRecord::Throw, OnBadRecord::SkipAndCount}) {
        expect_error_or_success("recordio", it, [&] {
          MXFaceDatasetOptions opts;
          opts.idx_path = idx_path;
          opts.num_classes = 3;
          opts.on_bad_record = mode;
          MXFaceDataset ds(rec, opts);
          for (int64_t i = 0; i < ds.size(); ++i) {
            FaceExample e;
            ds.try_get(i, e);
          }
          if (ds.size() > 0) ds.get(ds.size() - 1);
        });
      }
    }
  }
}

TEST(MutationFuzz, JpegDecode) {
  // Real JPEGs from our encoder: baseline and progressive, 4:2:0 / 4:4:4 / grayscale, the 112 x 112
  // training size (plain decode) and an odd size (decode + bilinear resize).
  RgbImage image(37, 53);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      uint8_t* p = image.pixel(y, x);
      p[0] = static_cast<uint8_t>(x * 4);
      p[1] = static_cast<uint8_t>(y * 6);
      p[2] = static_cast<uint8_t>((x * y) % 251);
    }
  }
  const RgbImage face = resize_bilinear(image, 112, 112);
  const std::vector<std::vector<uint8_t>> jpegs = {
      encode_jpeg(face, 90), encode_jpeg(face, 75, ChromaSubsampling::k444, JpegCoding::kProgressive),
      encode_jpeg(image, 95, ChromaSubsampling::kGray), encode_jpeg(image, 60, ChromaSubsampling::k420,
                                                                    JpegCoding::kProgressive)};
  Mutator m(4242);
  int decoded = 0;
  RgbImage out, scratch;
  for (int it = 0; it < 3000; ++it) {
    const std::vector<uint8_t>& seed = jpegs[static_cast<size_t>(it) % jpegs.size()];
    const std::string input = m.mutate(std::string(seed.begin(), seed.end()));
    expect_error_or_success("jpeg", it, [&] {
      // Strict mode (the loader's default) only: a lenient decode of a header mutated to claim
      // 100 Mpixel legitimately takes seconds under the sanitizers.
      decode_face_image(reinterpret_cast<const uint8_t*>(input.data()), input.size(), "fuzz.jpg", 112, 112, out,
                        scratch);
      ASSERT_EQ(out.pixels.size(), size_t{112} * 112 * 3);
      ++decoded;
    });
  }
  EXPECT_GT(decoded, 0);
}

}  // namespace
}  // namespace ff::data
