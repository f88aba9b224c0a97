// The embedded default dataset: N synthetic identities x K images for training, plus
// lfw-style verification sets whose pairs come from further, held-out identities.
//
// On disk (write_synthetic_dataset), laid out as the OneFlow port's ofrecord datasets:
//   <dir>/train/part-00000 ... part-<P-1>   OFRecord parts ("encoded" JPEG, "label" int32),
//                                           records shuffled (seeded) so parts mix identities
//   <dir>/val/<name>.bin                    insightface validation pickles (lfw.bin, ...)
//   <dir>/synthetic.json                    what was generated (counts, seed, options)
// Identity ids: training labels 0..N-1; validation set s uses identities N + s*V ... N + (s+1)*V - 1.
// Deterministic for a seed: the same options give byte-identical files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/ofrecord/ofrecord_writer.h"
#include "data/synthetic/face_renderer.h"
#include "data/verification/verification_bin.h"

namespace ff::data {

struct SyntheticValidationSpec {
  std::string name;  // file name without ".bin"
  JitterStrength strength;
};

// Defaults mirror insightface's three validation targets with harder nuisance where the real
// set is harder: cfp_fp (frontal-profile) gets larger pose changes, agedb_30 (age gaps) larger
// appearance changes.
std::vector<SyntheticValidationSpec> default_validation_specs();

struct SyntheticOptions {
  int64_t num_identities = 1000;
  int64_t images_per_identity = 20;
  int image_size = 112;
  int jpeg_quality = 95;
  uint64_t seed = 0;
  int num_parts = 8;
  int64_t val_identities = 200;  // held-out identities per validation set
  int64_t val_pairs = 2000;      // per set; a multiple of 20 (10 folds x same/different halves)
  std::vector<SyntheticValidationSpec> validation = default_validation_specs();
  JitterStrength train_strength;
};

// Training examples in identity-major order (identity 0 images 0..K-1, identity 1, ...).
// Rendered and encoded in parallel; the result does not depend on the thread count.
std::vector<FaceExample> make_synthetic_train_examples(const SyntheticOptions& options);

// One verification pair: identities a and b (equal for a same-identity pair).
struct SyntheticPair {
  int64_t a = 0, b = 0;
  bool same = false;
};

// The pairs of validation set `set_index` (an index into options.validation): for each of 10
// folds, val_pairs/20 same-identity pairs then val_pairs/20 different-identity pairs, as LFW's
// pairs.txt orders them. All identities come from the set's held-out range.
std::vector<SyntheticPair> make_synthetic_pairs(const SyntheticOptions& options, int set_index);

// Verification images for validation set `set_index`: pair p is images 2p (identity a, image
// index 2p) and 2p+1 (identity b, image index 2p+1), each rendered with the set's jitter strength.
VerificationSet make_synthetic_verification_set(const SyntheticOptions& options, int set_index);

// The first identity id of validation set `set_index` (its identities are disjoint from training).
int64_t synthetic_validation_identity_base(const SyntheticOptions& options, int set_index);

struct SyntheticDatasetFiles {
  std::vector<std::string> train_parts;
  std::vector<std::string> validation_bins;
  std::string metadata;  // synthetic.json
  int64_t num_classes = 0;
  int64_t num_images = 0;
};

SyntheticDatasetFiles write_synthetic_dataset(const std::string& dir, const SyntheticOptions& options);

}  // namespace ff::data
