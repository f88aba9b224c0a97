#include "data/synthetic/synthetic_dataset.h"

#include <filesystem>
#include <utility>

#include "data/decode/jpeg.h"
#include "data/loader/counter_rng.h"
#include "framework/common/check.h"
#include "framework/core/parallel.h"
#include "framework/io/atomic_file.h"
#include "framework/io/json.h"

namespace ff::data {
namespace {

constexpr uint64_t kPairTag = 0x70616972;     // "pair"
constexpr uint64_t kShuffleTag = 0x73687566;  // "shuf"

void check_options(const SyntheticOptions& o) {
  FF_CHECK(o.num_identities >= 1 && o.images_per_identity >= 1, "synthetic dataset: need >= 1 identity and image, got {} x {}",
           o.num_identities, o.images_per_identity);
  FF_CHECK(o.num_identities <= INT32_MAX, "synthetic dataset: {} identities do not fit an int32 label", o.num_identities);
  FF_CHECK(o.image_size >= 16, "synthetic dataset: image_size {} is too small", o.image_size);
  FF_CHECK(o.jpeg_quality >= 1 && o.jpeg_quality <= 100, "synthetic dataset: jpeg_quality {} not in [1, 100]", o.jpeg_quality);
  FF_CHECK(o.num_parts >= 1, "synthetic dataset: num_parts must be >= 1, got {}", o.num_parts);
  FF_CHECK(o.val_pairs % 20 == 0, "synthetic dataset: val_pairs {} must be a multiple of 20 (10 folds x same/different)",
           o.val_pairs);
  FF_CHECK(o.validation.empty() || (o.val_identities >= 2 && o.val_pairs >= 20),
           "synthetic dataset: validation needs >= 2 held-out identities and >= 20 pairs, got {} and {}",
           o.val_identities, o.val_pairs);
}

std::vector<uint8_t> render_jpeg(const SyntheticOptions& o, int64_t identity, int64_t image_index,
                                 const JitterStrength& strength) {
  const RgbImage image = render_identity_image(o.seed, identity, image_index, o.image_size, strength);
  return encode_jpeg(image, o.jpeg_quality);
}

std::string metadata_json(const SyntheticOptions& o, const SyntheticDatasetFiles& files) {
  std::string names;
  for (size_t i = 0; i < o.validation.size(); ++i) names += (i ? ", " : "") + json::quote(o.validation[i].name);
  return fmt::format(
      "{{\n  \"generator\": \"faceflow synthetic identities v1\",\n  \"seed\": {},\n  \"num_classes\": {},\n"
      "  \"num_images\": {},\n  \"images_per_identity\": {},\n  \"image_size\": {},\n  \"jpeg_quality\": {},\n"
      "  \"train_parts\": {},\n  \"val_targets\": [{}],\n  \"val_identities\": {},\n  \"val_pairs\": {}\n}}\n",
      o.seed, files.num_classes, files.num_images, o.images_per_identity, o.image_size, o.jpeg_quality,
      files.train_parts.size(), names, o.val_identities, o.val_pairs);
}

}  // namespace

std::vector<SyntheticValidationSpec> default_validation_specs() {
  return {{"lfw", {1.f, 1.f, 1.f}}, {"cfp_fp", {1.6f, 1.f, 1.f}}, {"agedb_30", {1.f, 1.5f, 1.2f}}};
}

std::vector<FaceExample> make_synthetic_train_examples(const SyntheticOptions& o) {
  check_options(o);
  const int64_t n = o.num_identities * o.images_per_identity;
  std::vector<FaceExample> examples(static_cast<size_t>(n));
  // Each image is a pure function of (seed, identity, image index): any split over threads
  // gives the same bytes.
  parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t identity = i / o.images_per_identity;
      examples[i].encoded_jpeg = render_jpeg(o, identity, i % o.images_per_identity, o.train_strength);
      examples[i].label = static_cast<int32_t>(identity);
    }
  });
  return examples;
}

int64_t synthetic_validation_identity_base(const SyntheticOptions& o, int set_index) {
  return o.num_identities + static_cast<int64_t>(set_index) * o.val_identities;
}

std::vector<SyntheticPair> make_synthetic_pairs(const SyntheticOptions& o, int set_index) {
  check_options(o);
  FF_CHECK(set_index >= 0 && set_index < static_cast<int>(o.validation.size()),
           "synthetic dataset: validation set {} out of range (have {})", set_index, o.validation.size());
  const int64_t base = synthetic_validation_identity_base(o, set_index);
  const int64_t per_half = o.val_pairs / 20;
  std::vector<SyntheticPair> pairs;
  CounterRng rng(mix64(mix64(o.seed, kPairTag), static_cast<uint64_t>(set_index)), 0);
  for (int fold = 0; fold < 10; ++fold) {
    for (int64_t i = 0; i < per_half; ++i) {
      const int64_t id = base + static_cast<int64_t>(rng.below(o.val_identities));
      pairs.push_back({id, id, true});
    }
    for (int64_t i = 0; i < per_half; ++i) {
      const int64_t a = static_cast<int64_t>(rng.below(o.val_identities));
      const int64_t b = (a + 1 + static_cast<int64_t>(rng.below(o.val_identities - 1))) % o.val_identities;
      pairs.push_back({base + a, base + b, false});
    }
  }
  return pairs;
}

VerificationSet make_synthetic_verification_set(const SyntheticOptions& o, int set_index) {
  const std::vector<SyntheticPair> pairs = make_synthetic_pairs(o, set_index);
  const SyntheticValidationSpec& spec = o.validation[set_index];
  VerificationSet set;
  set.images.resize(pairs.size() * 2);
  set.issame.resize(pairs.size());
  for (size_t p = 0; p < pairs.size(); ++p) set.issame[p] = pairs[p].same;
  // Image index 2p / 2p+1: every validation image is a distinct rendering.
  parallel_for(0, static_cast<int64_t>(set.images.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const SyntheticPair& pair = pairs[i / 2];
      set.images[i] = render_jpeg(o, i % 2 ? pair.b : pair.a, i, spec.strength);
    }
  });
  return set;
}

SyntheticDatasetFiles write_synthetic_dataset(const std::string& dir, const SyntheticOptions& o) {
  check_options(o);
  SyntheticDatasetFiles files;
  std::vector<FaceExample> examples = make_synthetic_train_examples(o);
  // Shuffle before splitting into parts, as OneFlow's converter does, so that every part (and so
  // every rank of a part-sharded reader) sees all identities.
  CounterRng rng(mix64(o.seed, kShuffleTag), 0);
  for (int64_t i = static_cast<int64_t>(examples.size()) - 1; i > 0; --i) {
    std::swap(examples[i], examples[rng.below(static_cast<uint64_t>(i) + 1)]);
  }
  files.num_classes = o.num_identities;
  files.num_images = static_cast<int64_t>(examples.size());
  files.train_parts = write_ofrecord_parts(dir + "/train", examples, o.num_parts);
  examples.clear();

  std::error_code ec;
  std::filesystem::create_directories(dir + "/val", ec);
  FF_CHECK(!ec, "synthetic dataset: cannot create '{}/val': {}", dir, ec.message());
  for (size_t s = 0; s < o.validation.size(); ++s) {
    const std::string path = dir + "/val/" + o.validation[s].name + ".bin";
    write_verification_bin(path, make_synthetic_verification_set(o, static_cast<int>(s)));
    files.validation_bins.push_back(path);
  }
  files.metadata = dir + "/synthetic.json";
  const std::string json = metadata_json(o, files);
  AtomicFileWriter out(files.metadata);
  out.write(json.data(), json.size());
  out.commit();
  return files;
}

}  // namespace ff::data
