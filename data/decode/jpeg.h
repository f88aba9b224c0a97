// JPEG decoding and encoding with libjpeg-turbo's TurboJPEG API.
//
// Decoding always yields 8-bit RGB HWC (grayscale JPEGs are expanded by libjpeg-turbo; CMYK
// JPEGs are refused with an error, as libjpeg cannot convert them to RGB), the layout
// insightface's loaders see after mx.image.imdecode / the OneFlow OFRecordImageDecoder with
// color_space "RGB". Every error is an ff::Error whose message starts with the `source` the
// caller passes ("part-00003 record 17", "lfw.bin image 42", a path), so a bad record in a
// 5M-image dataset can be found.
//
// Thread safety: every function may be called from many threads at once; each thread keeps
// its own TurboJPEG handles (TurboJPEG handles themselves are not thread-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/decode/image.h"

namespace ff::data {

struct JpegHeader {
  int width = 0;
  int height = 0;
};

// The largest image decode_jpeg accepts, checked against the header before anything is
// allocated. A JPEG header may declare up to 65535 x 65535 pixels in a few hundred bytes, so a
// corrupt or hostile record could otherwise make a loader worker allocate 12 GiB (a
// "decompression bomb"). The limits are far above anything a face dataset holds (aligned crops
// are 112 x 112; a 100-Mpixel camera frame is about 12000 x 8300) and cap one decode at 300 MB of
// RGB plus, for progressive JPEGs, libjpeg's coefficient buffer (at most 2 bytes per pixel and
// component: 600 MB). read_jpeg_header does not apply them, so oversized files can be measured.
inline constexpr int kMaxJpegSide = 16384;
inline constexpr int64_t kMaxJpegPixels = 100'000'000;

struct JpegDecodeOptions {
  // libjpeg-turbo reports some damage (e.g. a truncated file: "Premature end of JPEG file") as
  // a warning and still produces an image with a grey tail. With this set (the default) such
  // warnings are errors, so damaged records are reported (or skipped and counted) rather than
  // silently trained on.
  bool warnings_are_errors = true;
  // TJFLAG_FASTDCT / TJFLAG_FASTUPSAMPLE: a little faster, slightly less accurate.
  bool fast = false;
};

// Parses the header only. Throws ff::Error naming `source` if the bytes are not a JPEG.
JpegHeader read_jpeg_header(const uint8_t* data, size_t size, const std::string& source);

// Decodes into `out` (resized to the JPEG's dimensions; its allocation is reused). Throws
// ff::Error naming `source` for a damaged JPEG, an image over kMaxJpegSide / kMaxJpegPixels, or a
// progressive JPEG with more than 500 scans (libjpeg-turbo's TJFLAG_LIMITSCANS: every scan is a
// pass over the whole image, and the JPEG rules allow any number of some scans; a 0.9 MB file of
// 3000 empty scans over 10000 x 10000 pixels took 28 s to decode, 4.6 s to refuse).
void decode_jpeg(const uint8_t* data, size_t size, const std::string& source, RgbImage& out,
                 const JpegDecodeOptions& options = {});
RgbImage decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& source,
                     const JpegDecodeOptions& options = {});

// Chroma subsampling of the encoded JPEG. 4:2:0 is what cv2.imencode (and so MXNet im2rec,
// which produced the insightface .rec files) writes by default. kGray writes luminance only.
enum class ChromaSubsampling { k444, k422, k420, kGray };

// Baseline (sequential) is what datasets hold; progressive files turn up in scraped image
// folders and exercise a different libjpeg decode path (tests and fuzz seeds use both).
enum class JpegCoding { kBaseline, kProgressive };

// Encodes an RGB HWC image. quality in [1, 100].
std::vector<uint8_t> encode_jpeg(const uint8_t* rgb, int height, int width, int quality,
                                 ChromaSubsampling subsampling = ChromaSubsampling::k420,
                                 JpegCoding coding = JpegCoding::kBaseline);
std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality,
                                 ChromaSubsampling subsampling = ChromaSubsampling::k420,
                                 JpegCoding coding = JpegCoding::kBaseline);

}  // namespace ff::data
