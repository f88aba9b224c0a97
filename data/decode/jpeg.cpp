#include "data/decode/jpeg.h"

#include <turbojpeg.h>

#include <limits>
#include <memory>

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
  // TurboJPEG (2.1) leaves a handle mid-parse after an error: the next image on this thread
  // then fails too ("SOS before SOF"), so one corrupt record would poison every later record a
  // worker decodes. A failed call therefore throws away the handle; the next call makes a new one.
  void discard_decompressor() {
    if (decompressor_) tjDestroy(decompressor_);
    decompressor_ = nullptr;
  }
  void discard_compressor() {
    if (compressor_) tjDestroy(compressor_);
    compressor_ = nullptr;
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
  if (rc != 0) {
    const std::string reason = tjGetErrorStr2(h);
    handles().discard_decompressor();
    FF_THROW("{}: bad JPEG header ({} bytes): {}", source, size, reason);
  }
  FF_CHECK(header.width > 0 && header.height > 0, "{}: JPEG has an empty image ({}x{})", source, header.width,
           header.height);
  return header;
}

void decode_jpeg(const uint8_t* data, size_t size, const std::string& source, RgbImage& out,
                 const JpegDecodeOptions& options) {
  const JpegHeader header = read_jpeg_header(data, size, source);
  // Refuse absurd dimensions before allocating (see kMaxJpegSide in jpeg.h): a corrupt header
  // can claim 65535 x 65535 pixels in a record of a few hundred bytes.
  const int64_t pixels = static_cast<int64_t>(header.width) * header.height;
  FF_CHECK(header.width <= kMaxJpegSide && header.height <= kMaxJpegSide && pixels <= kMaxJpegPixels,
           "{}: JPEG ({} bytes) claims {}x{} pixels (width x height, {} pixels); refusing to decode more than "
           "{} pixels per side or {} pixels in all (a corrupt header or a decompression bomb)",
           source, size, header.width, header.height, pixels, kMaxJpegSide, kMaxJpegPixels);
  out.resize(header.height, header.width);
  tjhandle h = handles().decompressor();
  // TJFLAG_LIMITSCANS: a progressive JPEG of more than 500 scans is an error, not minutes of work.
  int flags = TJFLAG_LIMITSCANS;
  if (options.fast) flags |= TJFLAG_FASTDCT | TJFLAG_FASTUPSAMPLE;
  if (options.warnings_are_errors) flags |= TJFLAG_STOPONWARNING;
  const int rc = tjDecompress2(h, data, static_cast<unsigned long>(size), out.data(), header.width,
                               header.width * 3, header.height, TJPF_RGB, flags);
  if (rc != 0) {
    const bool warning = tjGetErrorCode(h) == TJERR_WARNING;
    const std::string reason = tjGetErrorStr2(h);
    handles().discard_decompressor();
    // Without warnings_are_errors a warning leaves a usable (partly grey) image.
    FF_CHECK(warning && !options.warnings_are_errors, "{}: bad JPEG ({} bytes, {}x{}): {}{}", source, size,
             header.width, header.height, reason, warning ? " (a libjpeg warning, treated as an error)" : "");
  }
}

RgbImage decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& source, const JpegDecodeOptions& options) {
  RgbImage image;
  decode_jpeg(bytes.data(), bytes.size(), source, image, options);
  return image;
}

std::vector<uint8_t> encode_jpeg(const uint8_t* rgb, int height, int width, int quality,
                                 ChromaSubsampling subsampling, JpegCoding coding) {
  FF_CHECK(rgb != nullptr && height > 0 && width > 0, "encode_jpeg: empty image ({}x{})", height, width);
  FF_CHECK(quality >= 1 && quality <= 100, "encode_jpeg: quality must be in [1, 100], got {}", quality);
  // A progressive encode optimises the Huffman tables, and TurboJPEG 2.1 keeps them in the handle:
  // a later baseline encode on that handle uses them instead of the standard tables and writes a
  // corrupt file ("Corrupt JPEG data: bad Huffman code" on decode). So progressive encodes (tests,
  // fuzz seeds) get a handle of their own, destroyed after the call, and the thread's handle only
  // ever encodes baseline.
  std::unique_ptr<void, int (*)(tjhandle)> progressive_handle(nullptr, tjDestroy);
  if (coding == JpegCoding::kProgressive) {
    progressive_handle.reset(tjInitCompress());
    FF_CHECK(progressive_handle != nullptr, "libjpeg-turbo: tjInitCompress failed: {}", tjGetErrorStr2(nullptr));
  }
  tjhandle h = progressive_handle ? progressive_handle.get() : handles().compressor();
  const int code = subsampling_code(subsampling);
  // Compress into a buffer of the worst-case size so TurboJPEG never reallocates it.
  std::vector<uint8_t> out(tjBufSize(width, height, code));
  unsigned char* dst = out.data();
  unsigned long jpeg_size = out.size();
  int flags = TJFLAG_NOREALLOC | TJFLAG_ACCURATEDCT;
  if (coding == JpegCoding::kProgressive) flags |= TJFLAG_PROGRESSIVE;
  const int rc = tjCompress2(h, rgb, width, width * 3, height, TJPF_RGB, &dst, &jpeg_size, code, quality, flags);
  if (rc != 0) {
    const std::string reason = tjGetErrorStr2(h);
    if (!progressive_handle) handles().discard_compressor();
    FF_THROW("encode_jpeg ({}x{}, quality {}): {}", width, height, quality, reason);
  }
  out.resize(jpeg_size);
  return out;
}

std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality, ChromaSubsampling subsampling,
                                 JpegCoding coding) {
  FF_CHECK(image.pixels.size() == static_cast<size_t>(image.height) * image.width * 3,
           "encode_jpeg: image holds {} bytes, expected {}x{}x3", image.pixels.size(), image.height, image.width);
  return encode_jpeg(image.data(), image.height, image.width, quality, subsampling, coding);
}

}  // namespace ff::data
