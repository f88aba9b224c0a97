// Regression tests for the JPEG decode path from fuzz_jpeg (tests/data_formats/fuzz/): each
// input is rebuilt deterministically from our own encoder's output, so the fixes stay covered in
// every build, g++ and sanitizer builds included, without clang or libFuzzer.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <vector>

#include "data/decode/face_decode.h"
#include "data/decode/jpeg.h"
#include "tests/common/test_assertions.h"

namespace ff::data {
namespace {

RgbImage gradient_image(int height, int width) {
  RgbImage image(height, width);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.pixel(y, x);
      p[0] = static_cast<uint8_t>(255 * x / width);
      p[1] = static_cast<uint8_t>(255 * y / height);
      p[2] = static_cast<uint8_t>((x * 7 + y * 13) % 256);
    }
  }
  return image;
}

// Byte offset of the first segment with marker FF `code` before the image data (SOS), walking
// the segment lengths from SOI the way a decoder does; -1 if there is none.
ptrdiff_t find_segment(const std::vector<uint8_t>& jpeg, uint8_t code) {
  size_t at = 2;  // past SOI
  while (at + 4 <= jpeg.size() && jpeg[at] == 0xFF) {
    if (jpeg[at + 1] == code) return static_cast<ptrdiff_t>(at);
    if (jpeg[at + 1] == 0xDA) break;
    at += 2 + (static_cast<size_t>(jpeg[at + 2]) << 8 | jpeg[at + 3]);
  }
  return -1;
}

// The same file with a frame header (SOF0 baseline or SOF2 progressive) that claims another image
// size: the few-KB "decompression bomb" fuzz_jpeg found.
std::vector<uint8_t> with_claimed_size(std::vector<uint8_t> jpeg, int height, int width) {
  ptrdiff_t sof = find_segment(jpeg, 0xC0);
  if (sof < 0) sof = find_segment(jpeg, 0xC2);
  EXPECT_GE(sof, 0) << "encoder output without a SOF0/SOF2 segment";
  if (sof < 0) return jpeg;
  // Segment layout: FF Cn, length (2), precision (1), height (2), width (2), ...
  const size_t at = static_cast<size_t>(sof);
  jpeg[at + 5] = static_cast<uint8_t>(height >> 8);
  jpeg[at + 6] = static_cast<uint8_t>(height);
  jpeg[at + 7] = static_cast<uint8_t>(width >> 8);
  jpeg[at + 8] = static_cast<uint8_t>(width);
  return jpeg;
}

// Finding (a seed with its header edited, run through fuzz_jpeg): a 3.5 KB progressive 4:4:4
// JPEG whose SOF2 claimed 16384 x 16384 passed the old 2^28-pixel check; the decode allocated
// 768 MiB of RGB and libjpeg 1.5 GiB of coefficients (libFuzzer: out-of-memory, 2.3 GB RSS). Now the size is refused from the header, before any
// allocation, with a message naming the record, the claimed size and the limits.
TEST(JpegFuzzRegression, HugeClaimedSizeIsRefusedBeforeAllocating) {
  const std::vector<uint8_t> jpeg =
      encode_jpeg(gradient_image(112, 112), 75, ChromaSubsampling::k444, JpegCoding::kProgressive);
  const std::vector<uint8_t> bomb = with_claimed_size(jpeg, 16384, 16384);
  EXPECT_FF_ERROR(decode_jpeg(bomb, "part-00002 record 9"), "part-00002 record 9", "16384x16384",
                  "16384 pixels per side", "100000000 pixels", "decompression bomb");
  RgbImage out, scratch;
  EXPECT_FF_ERROR(decode_face_image(bomb.data(), bomb.size(), "lfw.bin image 3", 112, 112, out, scratch),
                  "lfw.bin image 3", "16384x16384");
  EXPECT_TRUE(scratch.pixels.empty()) << "the refused image was allocated anyway";

  // Each limit alone: a strip one pixel over the side limit, a square just over the pixel limit
  // (messages say width x height).
  EXPECT_FF_ERROR(decode_jpeg(with_claimed_size(jpeg, 8, kMaxJpegSide + 1), "strip"), "strip", "16385x8");
  EXPECT_FF_ERROR(decode_jpeg(with_claimed_size(jpeg, 10001, 10000), "square"), "square", "10000x10001",
                  "100010000 pixels");
  // The header itself still reads, so a tool can report how large an oversized file claims to be.
  const JpegHeader header = read_jpeg_header(bomb.data(), bomb.size(), "bomb");
  EXPECT_EQ(header.height, 16384);
  EXPECT_EQ(header.width, 16384);
}

TEST(JpegFuzzRegression, ImagesOnTheSideLimitStillDecode) {
  const RgbImage strip = gradient_image(2, kMaxJpegSide);
  const RgbImage decoded = decode_jpeg(encode_jpeg(strip, 90), "strip");
  EXPECT_EQ(decoded.height, 2);
  EXPECT_EQ(decoded.width, kMaxJpegSide);
}

// Appends `count` scans that the JPEG progression rules allow any number of times: an AC "first"
// pass (Ss 1, Se 63, Ah 0, Al 0) over the luminance of a 112 x 112 grayscale image in which all
// 196 blocks are one end-of-band run, so each scan is 11 bytes and changes no coefficient. libjpeg
// accepts them without a warning, and each is a pass over every block of the image: 3000 such
// scans over 10000 x 10000 pixels (a 0.9 MB file) took 28 s to decode without the limit.
std::vector<uint8_t> with_extra_scans(std::vector<uint8_t> jpeg, int count) {
  EXPECT_GE(jpeg.size(), 4u);
  EXPECT_EQ(jpeg[jpeg.size() - 2], 0xFF);
  EXPECT_EQ(jpeg[jpeg.size() - 1], 0xD9);  // EOI, kept at the end
  std::vector<uint8_t> extra = {
      // DHT: AC table 0 holding one 1-bit code ("0") for symbol 0x70, EOB run of 2^7 + 7 extra bits.
      0xFF, 0xC4, 0x00, 0x14, 0x10, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x70};
  const uint8_t scan[] = {
      0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x01, 0x3F, 0x00,  // SOS: component 1, tables 0/0, Ss 1, Se 63
      0x44};  // code "0" then 7 extra bits 1000100 (68): a run of 128 + 68 = 196 blocks
  for (int i = 0; i < count; ++i) extra.insert(extra.end(), std::begin(scan), std::end(scan));
  jpeg.insert(jpeg.end() - 2, extra.begin(), extra.end());
  return jpeg;
}

// Guard (libjpeg-turbo's TJFLAG_LIMITSCANS): a progressive JPEG of more than 500 scans is an
// error naming the record, in strict and lenient mode; a few extra valid scans still decode.
TEST(JpegFuzzRegression, ProgressiveScanCountIsLimited) {
  const std::vector<uint8_t> jpeg =
      encode_jpeg(gradient_image(112, 112), 90, ChromaSubsampling::kGray, JpegCoding::kProgressive);
  const RgbImage expected = decode_jpeg(jpeg, "original");

  const RgbImage with_50 = decode_jpeg(with_extra_scans(jpeg, 50), "50 extra scans");
  EXPECT_EQ(with_50.pixels, expected.pixels) << "the crafted scans are meant to change nothing";

  const std::vector<uint8_t> scan_bomb = with_extra_scans(jpeg, 600);
  EXPECT_FF_ERROR(decode_jpeg(scan_bomb, "train.rec record 12"), "train.rec record 12", "500 scans");
  JpegDecodeOptions lenient;
  lenient.warnings_are_errors = false;
  EXPECT_FF_ERROR(decode_jpeg(scan_bomb, "train.rec record 12", lenient), "train.rec record 12", "500 scans");
}

// Finding (while writing fuzz_jpeg's seeds): TurboJPEG 2.1 keeps the Huffman tables a
// progressive encode optimised in the compressor handle, and encode_jpeg keeps one handle per
// thread, so every baseline encode after a progressive one on that thread wrote a corrupt file
// ("bad Huffman code", "extraneous bytes before marker"). Progressive encodes now use a handle of
// their own.
TEST(JpegFuzzRegression, BaselineEncodesAfterAProgressiveOneAreValid) {
  const RgbImage image = gradient_image(37, 53);
  const std::vector<uint8_t> baseline_first = encode_jpeg(image, 90);
  encode_jpeg(gradient_image(112, 112), 75, ChromaSubsampling::k444, JpegCoding::kProgressive);
  EXPECT_EQ(encode_jpeg(image, 90), baseline_first) << "the progressive encode changed later baseline output";
  for (const ChromaSubsampling subsampling :
       {ChromaSubsampling::k420, ChromaSubsampling::k422, ChromaSubsampling::k444, ChromaSubsampling::kGray}) {
    encode_jpeg(image, 60, subsampling, JpegCoding::kProgressive);
    const RgbImage decoded = decode_jpeg(encode_jpeg(image, 90, subsampling), "baseline after progressive");
    EXPECT_EQ(decoded.height, 37);
    EXPECT_EQ(decoded.width, 53);
  }
}

}  // namespace
}  // namespace ff::data
