#include "data/decode/jpeg.h"

#include <turbojpeg.h>

#include <limits>

#include "framework/common/check.h"

namespace ff::data {
namespace {

// One decompressor and one compressor per thread, created on first use and destroyed when
// the thread exits (loader workers live for an epoch; the handles are cheap to recreate).
class ThreadHandles {
 public:
  ~ThreadHandles() {
    if (decompressor_) tjDestroy(decompressor_);
    if (compressor_) tjDestroy(compressor_);
  }
  tjhandle decompressor() {
    if (!decompressor_) decompressor_ = tjInitDecompress();
    FF_CHECK(decompressor_ != nullptr, "libjpeg-turbo: tjInitDecompress failed: {}", tjGetErrorStr2(nullptr));
    return decompressor_;
  }
  tjhandle compressor() {
    if (!compressor_) compressor_ = tjInitCompress();
    FF_CHECK(compressor_ != nullptr, "libjpeg-turbo: tjInitCompress failed: {}", tjGetErrorStr2(nullptr));
    return compressor_;
  }

 private:
  tjhandle decompressor_ = nullptr;
  tjhandle compressor_ = nullptr;
};

ThreadHandles& handles() {
  thread_local ThreadHandles h;
  return h;
}

void check_input(const uint8_t* data, size_t size, const std::string& source) {
  FF_CHECK(data != nullptr && size > 0, "{}: empty image bytes (not a JPEG)", source);
  FF_CHECK(size <= std::numeric_limits<unsigned long>::max(), "{}: image of {} bytes is too large", source, size);
  // Every JPEG starts with the SOI marker FF D8; saying so is clearer than libjpeg's message.
  FF_CHECK(size >= 2 && data[0] == 0xFF && data[1] == 0xD8,
           "{}: not a JPEG (first bytes {:02x} {:02x}, expected ff d8){}", source, data[0], size > 1 ? data[1] : 0,
           size >= 8 && data[1] == 'P' && data[2] == 'N' && data[3] == 'G' ? "; this is a PNG" : "");
}

int subsampling_code(ChromaSubsampling s) {
  switch (s) {
    case ChromaSubsampling::k444: return TJSAMP_444;
    case ChromaSubsampling::k422: return TJSAMP_422;
    case ChromaSubsampling::k420: return TJSAMP_420;
    case ChromaSubsampling::kGray: return TJSAMP_GRAY;
  }
  return TJSAMP_420;
}

}  // namespace

JpegHeader read_jpeg_header(const uint8_t* data, size_t size, const std::string& source) {
  check_input(data, size, source);
  tjhandle h = handles().decompressor();
  JpegHeader header;
  int subsamp = 0, colorspace = 0;
  const int rc = tjDecompressHeader3(h, data, static_cast<unsigned long>(size), &header.width, &header.height,
                                     &subsamp, &colorspace);
  FF_CHECK(rc == 0, "{}: bad JPEG header ({} bytes): {}", source, size, tjGetErrorStr2(h));
  FF_CHECK(header.width > 0 && header.height > 0, "{}: JPEG has an empty image ({}x{})", source, header.width,
           header.height);
  return header;
}

void decode_jpeg(const uint8_t* data, size_t size, const std::string& source, RgbImage& out,
                 const JpegDecodeOptions& options) {
  const JpegHeader header = read_jpeg_header(data, size, source);
  // Refuse absurd dimensions before allocating: a corrupt header can claim 65535 x 65535.
  FF_CHECK(static_cast<int64_t>(header.width) * header.height <= (int64_t{1} << 28),
           "{}: JPEG claims {}x{} pixels; refusing to decode an image that large", source, header.width,
           header.height);
  out.resize(header.height, header.width);
  tjhandle h = handles().decompressor();
  int flags = 0;
  if (options.fast) flags |= TJFLAG_FASTDCT | TJFLAG_FASTUPSAMPLE;
  if (options.warnings_are_errors) flags |= TJFLAG_STOPONWARNING;
  const int rc = tjDecompress2(h, data, static_cast<unsigned long>(size), out.data(), header.width,
                               header.width * 3, header.height, TJPF_RGB, flags);
  if (rc != 0) {
    const bool warning = tjGetErrorCode(h) == TJERR_WARNING;
    // Without warnings_are_errors a warning leaves a usable (partly grey) image.
    FF_CHECK(warning && !options.warnings_are_errors, "{}: bad JPEG ({} bytes, {}x{}): {}{}", source, size,
             header.width, header.height, tjGetErrorStr2(h), warning ? " (a libjpeg warning, treated as an error)" : "");
  }
}

RgbImage decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& source, const JpegDecodeOptions& options) {
  RgbImage image;
  decode_jpeg(bytes.data(), bytes.size(), source, image, options);
  return image;
}

std::vector<uint8_t> encode_jpeg(const uint8_t* rgb, int height, int width, int quality,
                                 ChromaSubsampling subsampling) {
  FF_CHECK(rgb != nullptr && height > 0 && width > 0, "encode_jpeg: empty image ({}x{})", height, width);
  FF_CHECK(quality >= 1 && quality <= 100, "encode_jpeg: quality must be in [1, 100], got {}", quality);
  tjhandle h = handles().compressor();
  const int code = subsampling_code(subsampling);
  // Compress into a buffer of the worst-case size so TurboJPEG never reallocates it.
  std::vector<uint8_t> out(tjBufSize(width, height, code));
  unsigned char* dst = out.data();
  unsigned long jpeg_size = out.size();
  const int rc = tjCompress2(h, rgb, width, width * 3, height, TJPF_RGB, &dst, &jpeg_size, code, quality,
                             TJFLAG_NOREALLOC | TJFLAG_ACCURATEDCT);
  FF_CHECK(rc == 0, "encode_jpeg ({}x{}, quality {}): {}", width, height, quality, tjGetErrorStr2(h));
  out.resize(jpeg_size);
  return out;
}

std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality, ChromaSubsampling subsampling) {
  FF_CHECK(image.pixels.size() == static_cast<size_t>(image.height) * image.width * 3,
           "encode_jpeg: image holds {} bytes, expected {}x{}x3", image.pixels.size(), image.height, image.width);
  return encode_jpeg(image.data(), image.height, image.width, quality, subsampling);
}

}  // namespace ff::data
