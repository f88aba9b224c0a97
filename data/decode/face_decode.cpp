#include "data/decode/face_decode.h"

#include "data/decode/resize.h"
#include "framework/common/check.h"

namespace ff::data {

bool decode_face_image(const uint8_t* data, size_t size, const std::string& source, int height, int width,
                       RgbImage& out, RgbImage& scratch, const JpegDecodeOptions& options) {
  FF_CHECK(height > 0 && width > 0, "{}: bad target image size {}x{}", source, height, width);
  const JpegHeader header = read_jpeg_header(data, size, source);
  if (header.height == height && header.width == width) {
    decode_jpeg(data, size, source, out, options);
    return false;
  }
  decode_jpeg(data, size, source, scratch, options);
  resize_bilinear(scratch, height, width, out);
  return true;
}

}  // namespace ff::data
