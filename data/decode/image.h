// A decoded 8-bit RGB image in HWC layout (row-major, 3 interleaved channels per pixel), the
// form every decoder in data/decode/ produces and the loader's augmentation consumes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ff::data {

struct RgbImage {
  int height = 0;
  int width = 0;
  std::vector<uint8_t> pixels;  // height * width * 3 bytes, R G B per pixel

  RgbImage() = default;
  RgbImage(int h, int w) : height(h), width(w), pixels(static_cast<std::size_t>(h) * w * 3) {}

  // Keeps the allocation when the new size fits (the loader reuses one image per thread).
  void resize(int h, int w) {
    height = h;
    width = w;
    pixels.resize(static_cast<std::size_t>(h) * w * 3);
  }
  uint8_t* data() { return pixels.data(); }
  const uint8_t* data() const { return pixels.data(); }
  const uint8_t* pixel(int y, int x) const { return pixels.data() + (static_cast<std::size_t>(y) * width + x) * 3; }
  uint8_t* pixel(int y, int x) { return pixels.data() + (static_cast<std::size_t>(y) * width + x) * 3; }
};

}  // namespace ff::data
