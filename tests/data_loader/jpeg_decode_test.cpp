// JPEG decode/encode with libjpeg-turbo, bilinear resizing, and errors that name the source.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "data/decode/face_decode.h"
#include "data/decode/jpeg.h"
#include "data/decode/resize.h"
#include "data/synthetic/face_renderer.h"
#include "framework/common/check.h"

namespace ff::data {
namespace {

double psnr(const RgbImage& a, const RgbImage& b) {
  EXPECT_EQ(a.pixels.size(), b.pixels.size());
  double se = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = double(a.pixels[i]) - b.pixels[i];
    se += d * d;
  }
  const double mse = se / a.pixels.size();
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

RgbImage gradient_image(int h, int w) {
  RgbImage img(h, w);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.pixel(y, x);
      p[0] = static_cast<uint8_t>(255 * x / (w - 1));
      p[1] = static_cast<uint8_t>(255 * y / (h - 1));
      p[2] = static_cast<uint8_t>(128 + 100 * std::sin(0.2 * x + 0.1 * y));
    }
  }
  return img;
}

std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no ff::Error thrown)";
}

TEST(Jpeg, RoundTripOfAFaceAtQuality95) {
  const RgbImage face = render_identity_image(3, 5, 0);
  const std::vector<uint8_t> jpeg = encode_jpeg(face, 95);
  ASSERT_GT(jpeg.size(), 100u);
  EXPECT_EQ(jpeg[0], 0xFF);
  EXPECT_EQ(jpeg[1], 0xD8);
  const RgbImage decoded = decode_jpeg(jpeg, "face");
  ASSERT_EQ(decoded.height, 112);
  ASSERT_EQ(decoded.width, 112);
  // The synthetic faces carry pixel noise, the hardest case for JPEG; 4:2:0 quality 95 still
  // keeps them above 30 dB, and 4:4:4 does better.
  EXPECT_GT(psnr(face, decoded), 30.0);
  const RgbImage decoded444 = decode_jpeg(encode_jpeg(face, 95, ChromaSubsampling::k444), "face 444");
  EXPECT_GT(psnr(face, decoded444), psnr(face, decoded));
}

TEST(Jpeg, RoundTripOfASmoothNonSquareImage) {
  const RgbImage img = gradient_image(37, 53);
  const RgbImage decoded = decode_jpeg(encode_jpeg(img, 95), "gradient");
  EXPECT_EQ(decoded.height, 37);
  EXPECT_EQ(decoded.width, 53);
  EXPECT_GT(psnr(img, decoded), 35.0);
  // Lower quality, lower fidelity, smaller file.
  EXPECT_LT(encode_jpeg(img, 30).size(), encode_jpeg(img, 95).size());
  const JpegHeader header = [&] {
    const auto bytes = encode_jpeg(img, 80);
    return read_jpeg_header(bytes.data(), bytes.size(), "gradient");
  }();
  EXPECT_EQ(header.width, 53);
  EXPECT_EQ(header.height, 37);
}

TEST(Jpeg, GrayscaleJpegDecodesToEqualChannels) {
  const RgbImage img = gradient_image(16, 24);
  const RgbImage decoded = decode_jpeg(encode_jpeg(img, 90, ChromaSubsampling::kGray), "gray");
  ASSERT_EQ(decoded.height, 16);
  ASSERT_EQ(decoded.width, 24);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 24; ++x) {
      const uint8_t* p = decoded.pixel(y, x);
      ASSERT_EQ(p[0], p[1]);
      ASSERT_EQ(p[1], p[2]);
    }
  }
}

TEST(Jpeg, EncodeRejectsBadArguments) {
  const RgbImage img = gradient_image(8, 8);
  EXPECT_THROW(encode_jpeg(img, 0), Error);
  EXPECT_THROW(encode_jpeg(img, 101), Error);
  EXPECT_THROW(encode_jpeg(nullptr, 8, 8, 90), Error);
}

TEST(Jpeg, BadBytesNameTheSource) {
  const std::vector<uint8_t> garbage = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  std::string msg = error_message([&] { decode_jpeg(garbage, "part-00003 record 17"); });
  EXPECT_NE(msg.find("part-00003 record 17"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a JPEG"), std::string::npos) << msg;

  msg = error_message([&] { decode_jpeg(std::vector<uint8_t>{}, "empty.jpg"); });
  EXPECT_NE(msg.find("empty.jpg"), std::string::npos) << msg;

  const std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0};
  msg = error_message([&] { decode_jpeg(png, "face.png"); });
  EXPECT_NE(msg.find("PNG"), std::string::npos) << msg;

  // A valid SOI marker followed by junk fails in libjpeg itself.
  std::vector<uint8_t> bad_header = {0xFF, 0xD8, 0xFF, 0x00, 0x13, 0x37, 0x42, 0x42};
  msg = error_message([&] { decode_jpeg(bad_header, "record 9"); });
  EXPECT_NE(msg.find("record 9"), std::string::npos) << msg;
}

TEST(Jpeg, TruncatedFileIsAnErrorUnlessWarningsAreAllowed) {
  std::vector<uint8_t> jpeg = encode_jpeg(render_identity_image(1, 2, 3), 95);
  jpeg.resize(jpeg.size() * 2 / 3);
  const std::string msg = error_message([&] { decode_jpeg(jpeg, "truncated record 4"); });
  EXPECT_NE(msg.find("truncated record 4"), std::string::npos) << msg;
  JpegDecodeOptions lenient;
  lenient.warnings_are_errors = false;
  const RgbImage partial = decode_jpeg(jpeg, "truncated record 4", lenient);
  EXPECT_EQ(partial.height, 112);
}

// A record damaged in the middle of its headers (the tables and the frame header overwritten,
// as a bad disk sector does), which libjpeg rejects part-way through parsing.
std::vector<uint8_t> damaged_in_the_headers(std::vector<uint8_t> jpeg) {
  for (size_t i = 20; i < 400 && i < jpeg.size(); ++i) jpeg[i] = 0x55;
  return jpeg;
}

TEST(Jpeg, AFailedDecodeDoesNotPoisonTheNextImageOnTheSameThread) {
  // TurboJPEG keeps per-handle parser state; the decoder's handles are per thread, so a handle
  // left mid-parse by one bad record would make every later record of that worker fail.
  const std::vector<uint8_t> good = encode_jpeg(render_identity_image(4, 1, 2), 95);
  const RgbImage expected = decode_jpeg(good, "good");
  std::vector<std::vector<uint8_t>> bad_inputs = {damaged_in_the_headers(good),
                                                  {0xFF, 0xD8, 0xFF, 0x00, 0x13, 0x37, 0x42, 0x42}};
  std::vector<uint8_t> truncated = good;
  truncated.resize(good.size() / 2);
  bad_inputs.push_back(truncated);
  for (size_t k = 0; k < bad_inputs.size(); ++k) {
    EXPECT_THROW(decode_jpeg(bad_inputs[k], "bad record"), Error) << "bad input " << k;
    RgbImage after;
    ASSERT_NO_THROW(after = decode_jpeg(good, "good record after bad input " + std::to_string(k)));
    EXPECT_EQ(after.pixels, expected.pixels) << "bad input " << k;
    const bool header_intact = k == 2;  // the truncated file fails only in the image data
    if (!header_intact) {
      EXPECT_THROW(read_jpeg_header(bad_inputs[k].data(), bad_inputs[k].size(), "bad header"), Error);
    }
    EXPECT_NO_THROW(read_jpeg_header(good.data(), good.size(), "good header after bad input"));
  }
}

TEST(Resize, HalfPixelCentresMatchOpenCvLinear) {
  // 1 x 2 -> 1 x 4: cv2.resize(INTER_LINEAR) gives 0, 25, 75, 100.
  RgbImage src(1, 2);
  for (int c = 0; c < 3; ++c) {
    src.pixel(0, 0)[c] = 0;
    src.pixel(0, 1)[c] = 100;
  }
  RgbImage up = resize_bilinear(src, 1, 4);
  EXPECT_EQ(up.pixel(0, 0)[0], 0);
  EXPECT_EQ(up.pixel(0, 1)[1], 25);
  EXPECT_EQ(up.pixel(0, 2)[2], 75);
  EXPECT_EQ(up.pixel(0, 3)[0], 100);
  // 1 x 4 -> 1 x 2 averages neighbouring pairs (sample points at 0.5 and 2.5).
  RgbImage four(1, 4);
  const uint8_t values[4] = {0, 100, 200, 250};
  for (int x = 0; x < 4; ++x) four.pixel(0, x)[0] = values[x];
  RgbImage down = resize_bilinear(four, 1, 2);
  EXPECT_EQ(down.pixel(0, 0)[0], 50);
  EXPECT_EQ(down.pixel(0, 1)[0], 225);
}

TEST(Resize, ConstantStaysConstantAndSameSizeCopies) {
  RgbImage flat(50, 70);
  std::fill(flat.pixels.begin(), flat.pixels.end(), 77);
  const RgbImage r = resize_bilinear(flat, 112, 112);
  for (uint8_t v : r.pixels) ASSERT_EQ(v, 77);
  const RgbImage g = gradient_image(20, 30);
  EXPECT_EQ(resize_bilinear(g, 20, 30).pixels, g.pixels);
}

TEST(FaceDecode, Non112ImagesAreResizedBilinearly) {
  const RgbImage big = gradient_image(150, 130);
  const std::vector<uint8_t> jpeg = encode_jpeg(big, 95);
  RgbImage out, scratch;
  EXPECT_TRUE(decode_face_image(jpeg.data(), jpeg.size(), "big", 112, 112, out, scratch));
  EXPECT_EQ(out.height, 112);
  EXPECT_EQ(out.width, 112);
  // Exactly decode + resize_bilinear.
  EXPECT_EQ(out.pixels, resize_bilinear(decode_jpeg(jpeg, "big"), 112, 112).pixels);
  // A 112 x 112 JPEG is decoded as is.
  const std::vector<uint8_t> face = encode_jpeg(render_identity_image(0, 0, 0), 95);
  EXPECT_FALSE(decode_face_image(face.data(), face.size(), "face", 112, 112, out, scratch));
  EXPECT_EQ(out.pixels, decode_jpeg(face, "face").pixels);
}

}  // namespace
}  // namespace ff::data
