#include "data/loader/augment.h"

#include <array>

#include "data/loader/counter_rng.h"

namespace ff::data {
namespace {

// 256-entry tables: one load per pixel instead of a subtract and a divide, and bit-identical to
// normalize_pixel().
template <typename T>
const std::array<T, 256>& normalize_table() {
  static const std::array<T, 256> table = [] {
    std::array<T, 256> t{};
    for (int i = 0; i < 256; ++i) t[i] = T(normalize_pixel(static_cast<uint8_t>(i)));
    return t;
  }();
  return table;
}

template <typename T>
void to_chw(const RgbImage& image, bool flip, T* out) {
  const std::array<T, 256>& table = normalize_table<T>();
  const int h = image.height, w = image.width;
  const size_t plane = static_cast<size_t>(h) * w;
  T* r = out;
  T* g = out + plane;
  T* b = out + 2 * plane;
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = image.pixel(y, 0);
    const size_t base = static_cast<size_t>(y) * w;
    for (int x = 0; x < w; ++x) {
      const uint8_t* p = row + static_cast<size_t>(flip ? w - 1 - x : x) * 3;
      r[base + x] = table[p[0]];
      g[base + x] = table[p[1]];
      b[base + x] = table[p[2]];
    }
  }
}

}  // namespace

SampleAugmentation decide_augmentation(const AugmentOptions& options, uint64_t seed, int64_t epoch,
                                       int64_t record_index) {
  SampleAugmentation aug;
  if (!options.random_flip) return aug;
  CounterRng rng(mix64(mix64(seed, kAugmentationTag), static_cast<uint64_t>(epoch)),
                 static_cast<uint64_t>(record_index));
  aug.flip = rng.coin(options.flip_probability);
  return aug;
}

void to_normalized_chw(const RgbImage& image, bool flip, float* out) { to_chw(image, flip, out); }
void to_normalized_chw(const RgbImage& image, bool flip, Half* out) { to_chw(image, flip, out); }

}  // namespace ff::data
