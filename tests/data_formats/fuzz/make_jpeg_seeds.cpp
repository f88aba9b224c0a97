// Writes the seed corpus of fuzz_jpeg: small real JPEGs made by our own encoder
// (data/decode/jpeg.cpp), so the fuzzer starts from every decode path a dataset can reach:
// baseline and progressive, RGB at 4:2:0 / 4:2:2 / 4:4:4 and grayscale, the 112 x 112 training
// size (plain decode) and odd sizes (resize, partial MCUs at the right and bottom edges).
//
//   make_jpeg_seeds OUTPUT_DIR
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "data/decode/jpeg.h"
#include "framework/common/check.h"

namespace {

using ff::data::ChromaSubsampling;
using ff::data::JpegCoding;
using ff::data::RgbImage;

// Smooth gradients, a bright disc and deterministic noise: enough structure for non-trivial DC
// and AC coefficients in every channel, without dependence on any random generator's stream.
RgbImage seed_image(int height, int width) {
  RgbImage image(height, width);
  uint32_t noise = 12345;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      noise = noise * 1664525u + 1013904223u;
      const double dy = (y - height / 2.0) / height, dx = (x - width / 2.0) / width;
      const bool in_disc = dx * dx + dy * dy < 0.08;
      uint8_t* p = image.pixel(y, x);
      p[0] = static_cast<uint8_t>(in_disc ? 230 : 255 * x / width);
      p[1] = static_cast<uint8_t>(in_disc ? 180 : 255 * y / height);
      p[2] = static_cast<uint8_t>(128 + 100 * std::sin(0.4 * (x + y)) / 2 + (noise >> 28));
    }
  }
  return image;
}

struct Seed {
  const char* name;
  int height;
  int width;
  int quality;
  ChromaSubsampling subsampling;
  JpegCoding coding;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const Seed seeds[] = {
      {"rgb_112x112_baseline_420", 112, 112, 90, ChromaSubsampling::k420, JpegCoding::kBaseline},
      {"rgb_112x112_progressive_444", 112, 112, 75, ChromaSubsampling::k444, JpegCoding::kProgressive},
      {"gray_112x112_progressive", 112, 112, 80, ChromaSubsampling::kGray, JpegCoding::kProgressive},
      {"rgb_37x53_baseline_422", 37, 53, 95, ChromaSubsampling::k422, JpegCoding::kBaseline},
      {"rgb_37x53_progressive_420", 37, 53, 60, ChromaSubsampling::k420, JpegCoding::kProgressive},
      {"gray_37x53_baseline", 37, 53, 90, ChromaSubsampling::kGray, JpegCoding::kBaseline},
      {"rgb_1x1_baseline_444", 1, 1, 100, ChromaSubsampling::k444, JpegCoding::kBaseline},
      {"rgb_9x300_progressive_420", 9, 300, 50, ChromaSubsampling::k420, JpegCoding::kProgressive},
  };
  try {
    for (const Seed& s : seeds) {
      const std::vector<uint8_t> jpeg =
          ff::data::encode_jpeg(seed_image(s.height, s.width), s.quality, s.subsampling, s.coding);
      // A seed must be a valid JPEG (strict decode, right size), or the fuzzer starts from junk.
      const RgbImage decoded = ff::data::decode_jpeg(jpeg, s.name);
      FF_CHECK(decoded.height == s.height && decoded.width == s.width, "make_jpeg_seeds: {} decodes to {}x{}",
               s.name, decoded.height, decoded.width);
      const std::string path = dir + "/" + s.name + ".jpg";
      std::FILE* f = std::fopen(path.c_str(), "wb");
      FF_CHECK(f != nullptr, "make_jpeg_seeds: cannot write {}", path);
      const size_t written = std::fwrite(jpeg.data(), 1, jpeg.size(), f);
      std::fclose(f);
      FF_CHECK(written == jpeg.size(), "make_jpeg_seeds: short write to {}", path);
    }
  } catch (const ff::Error& e) {
    std::fprintf(stderr, "make_jpeg_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
