#include "data/decode/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "framework/common/check.h"

namespace ff::data {
namespace {

// For each output coordinate: the lower source index and the weight of the upper one.
struct Tap {
  int lo;
  int hi;
  float frac;
};

std::vector<Tap> make_taps(int src_size, int dst_size) {
  std::vector<Tap> taps(dst_size);
  const double scale = static_cast<double>(src_size) / dst_size;
  for (int d = 0; d < dst_size; ++d) {
    double s = (d + 0.5) * scale - 0.5;
    int lo = static_cast<int>(std::floor(s));
    float frac = static_cast<float>(s - lo);
    // Past either border the nearest edge pixel is replicated (OpenCV's behaviour).
    if (lo < 0) {
      lo = 0;
      frac = 0.f;
    }
    if (lo >= src_size - 1) {
      lo = src_size - 1;
      frac = 0.f;
    }
    taps[d] = {lo, std::min(lo + 1, src_size - 1), frac};
  }
  return taps;
}

}  // namespace

void resize_bilinear(const RgbImage& src, int out_height, int out_width, RgbImage& dst) {
  FF_CHECK(src.height > 0 && src.width > 0, "resize_bilinear: empty source image ({}x{})", src.height, src.width);
  FF_CHECK(out_height > 0 && out_width > 0, "resize_bilinear: bad output size {}x{}", out_height, out_width);
  FF_CHECK(&src != &dst, "resize_bilinear: source and destination must differ");
  dst.resize(out_height, out_width);
  if (out_height == src.height && out_width == src.width) {
    dst.pixels = src.pixels;
    return;
  }
  const std::vector<Tap> ytaps = make_taps(src.height, out_height);
  const std::vector<Tap> xtaps = make_taps(src.width, out_width);
  for (int y = 0; y < out_height; ++y) {
    const Tap& ty = ytaps[y];
    const uint8_t* row0 = src.pixel(ty.lo, 0);
    const uint8_t* row1 = src.pixel(ty.hi, 0);
    uint8_t* out = dst.pixel(y, 0);
    for (int x = 0; x < out_width; ++x) {
      const Tap& tx = xtaps[x];
      const uint8_t* a = row0 + tx.lo * 3;
      const uint8_t* b = row0 + tx.hi * 3;
      const uint8_t* c = row1 + tx.lo * 3;
      const uint8_t* d = row1 + tx.hi * 3;
      for (int ch = 0; ch < 3; ++ch) {
        const float top = a[ch] + (b[ch] - a[ch]) * tx.frac;
        const float bottom = c[ch] + (d[ch] - c[ch]) * tx.frac;
        const float v = top + (bottom - top) * ty.frac;
        out[x * 3 + ch] = static_cast<uint8_t>(std::clamp(static_cast<int>(v + 0.5f), 0, 255));
      }
    }
  }
}

RgbImage resize_bilinear(const RgbImage& src, int out_height, int out_width) {
  RgbImage dst;
  resize_bilinear(src, out_height, out_width, dst);
  return dst;
}

}  // namespace ff::data
