// Per-sample augmentation and normalisation, as arcface_torch's training transform:
//   RandomHorizontalFlip(p=0.5) -> ToTensor -> Normalize(mean=0.5, std=0.5)
// which on 8-bit pixels is out = (x - 127.5) / 127.5 in [-1, 1], laid out CHW (RGB order).
//
// The random decisions for a sample come from a Philox stream keyed by (seed, epoch, record
// index) (counter_rng.h), never from a shared generator, so they do not depend on which worker
// thread handles the sample or in what order.
#pragma once

#include <cstdint>

#include "data/decode/image.h"
#include "framework/common/half.h"

namespace ff::data {

struct AugmentOptions {
  bool random_flip = true;
  float flip_probability = 0.5f;
};

// What happens to one sample (a struct so that later augmentations extend it).
struct SampleAugmentation {
  bool flip = false;
};

SampleAugmentation decide_augmentation(const AugmentOptions& options, uint64_t seed, int64_t epoch,
                                       int64_t record_index);

// Writes `image` (H x W x 3 uint8) to `out` as 3 x H x W normalised values, mirrored left-right
// when `flip`. `out` must hold 3 * H * W elements.
void to_normalized_chw(const RgbImage& image, bool flip, float* out);
void to_normalized_chw(const RgbImage& image, bool flip, Half* out);

// The normalisation of one 8-bit value: (x - 127.5) / 127.5.
inline float normalize_pixel(uint8_t x) { return (static_cast<float>(x) - 127.5f) / 127.5f; }

}  // namespace ff::data
