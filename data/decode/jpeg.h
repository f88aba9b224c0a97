// JPEG decoding and encoding with libjpeg-turbo's TurboJPEG API.
//
// Decoding always yields 8-bit RGB HWC (grayscale JPEGs are expanded by libjpeg-turbo; CMYK
// JPEGs are refused with an error, as libjpeg cannot convert them to RGB), the layout insightface's loaders see after mx.image.imdecode / the OneFlow
// OFRecordImageDecoder with color_space "RGB". Every error is an ff::Error whose message starts
// with the `source` the caller passes ("part-00003 record 17", "lfw.bin image 42", a path), so
// a bad record in a 5M-image dataset can be found.
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

// Decodes into `out` (resized to the JPEG's dimensions; its allocation is reused).
void decode_jpeg(const uint8_t* data, size_t size, const std::string& source, RgbImage& out,
                 const JpegDecodeOptions& options = {});
RgbImage decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& source,
                     const JpegDecodeOptions& options = {});

// Chroma subsampling of the encoded JPEG. 4:2:0 is what cv2.imencode (and so MXNet im2rec,
// which produced the insightface .rec files) writes by default. kGray writes luminance only.
enum class ChromaSubsampling { k444, k422, k420, kGray };

// Encodes an RGB HWC image. quality in [1, 100].
std::vector<uint8_t> encode_jpeg(const uint8_t* rgb, int height, int width, int quality,
                                 ChromaSubsampling subsampling = ChromaSubsampling::k420);
std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality,
                                 ChromaSubsampling subsampling = ChromaSubsampling::k420);

}  // namespace ff::data
