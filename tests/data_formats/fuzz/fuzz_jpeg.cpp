// libFuzzer harness: JPEG decoding (data/decode). The input is the bytes of one image record, as
// a dataset reader hands them to the loader. It is decoded as is, strictly (libjpeg warnings are
// errors, the default) and leniently (warnings leave a partly grey image), and through
// decode_face_image at the training size (112 x 112, a plain decode when the JPEG is that size)
// and at 32 x 24, so the bilinear resize runs in both directions on every decodable input.
// ff::Error is the expected answer to bad bytes; anything else is a finding: a crash, a sanitizer
// report, a non-ff::Error exception (std::bad_alloc included), a wrong output size, a hang or a
// huge allocation (the script runs with -timeout and -rss_limit_mb).
//
// Feedback: libjpeg-turbo is the system library, without coverage instrumentation, so on its own
// libFuzzer sees only our few hundred edges and shrinks the seed JPEGs to a few dozen bytes that
// fail in the same place. The harness therefore reports what it can observe of libjpeg's path as
// extra features (libFuzzer's extra counters): which markers the input holds and how many scans,
// the header's subsampling and colour space, the size class of a decoded image, and which error
// each decode ended in. Inputs that reach a new libjpeg error or structure are then kept.
#include <turbojpeg.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "data/decode/face_decode.h"
#include "data/decode/jpeg.h"
#include "framework/common/check.h"

namespace {

// libFuzzer (Linux) treats every byte of this section as a coverage counter, cleared before
// each input; a non-zero byte is a feature.
constexpr size_t kFeatureSlots = 4096;
__attribute__((used, section("__libfuzzer_extra_counters"))) uint8_t g_features[kFeatureSlots];

// Disjoint ranges of g_features, one per kind of observation.
enum FeatureBase : size_t {
  kMarkerSeen = 0,         // 64: marker FF C0 .. FF FF present
  kScanCount = 64,         // 16: log2(number of SOS markers + 1)
  kHeaderKind = 128,       // 64: subsampling x colour space from tjDecompressHeader3, or "no header"
  kDecodedSize = 256,      // 4 calls x 16 x 16: log2(height) x log2(width) of a successful decode
  kErrorKind = 1280,       // 4 calls x 512: hash of the error message with its numbers removed
};

void mark(size_t slot) { g_features[slot % kFeatureSlots] = 1; }

size_t log2_bucket(uint64_t v, size_t buckets) {
  size_t b = 0;
  while (v > 1 && b + 1 < buckets) {
    v >>= 1;
    ++b;
  }
  return b;
}

// Markers are the only FF xx pairs (xx not 00) a JPEG may hold, entropy-coded data included, so
// a byte scan sees the file's structure: tables, frame types, restart markers, APPn, scans.
void observe_structure(const uint8_t* data, size_t size) {
  size_t scans = 0;
  for (size_t i = 0; i + 1 < size; ++i) {
    if (data[i] != 0xFF || data[i + 1] < 0xC0) continue;
    mark(kMarkerSeen + (data[i + 1] - 0xC0));
    if (data[i + 1] == 0xDA) ++scans;
  }
  mark(kScanCount + log2_bucket(scans + 1, 16));
}

void observe_header(const uint8_t* data, size_t size) {
  tjhandle h = tjInitDecompress();
  if (!h) std::abort();
  int width = 0, height = 0, subsampling = -1, colorspace = -1;
  if (tjDecompressHeader3(h, data, static_cast<unsigned long>(size), &width, &height, &subsampling, &colorspace) == 0) {
    mark(kHeaderKind + 1 + static_cast<size_t>((subsampling + 1) & 7) * 7 + static_cast<size_t>((colorspace + 1) & 7));
  } else {
    mark(kHeaderKind);
  }
  tjDestroy(h);
}

// The error's kind, not its details: digits (byte counts, sizes, offsets, line numbers) are
// dropped, or every input would be "new".
void observe_error(size_t call, const ff::Error& e) {
  uint32_t hash = 2166136261u;
  for (const char* p = e.what(); *p; ++p) {
    if (std::isdigit(static_cast<unsigned char>(*p))) continue;
    hash = (hash ^ static_cast<uint8_t>(*p)) * 16777619u;
  }
  mark(kErrorKind + call * 512 + hash % 512);
}

// The decoders' contract: on success the image holds exactly height * width * 3 bytes, at the
// header's size (plain decode) or the requested size (decode_face_image).
void require_shape(const ff::data::RgbImage& image, int height, int width, const char* what) {
  if (image.height != height || image.width != width ||
      image.pixels.size() != static_cast<size_t>(height) * static_cast<size_t>(width) * 3) {
    std::fprintf(stderr, "%s: got %dx%d with %zu bytes, expected %dx%d\n", what, image.height, image.width,
                 image.pixels.size(), height, width);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ff::data;
  observe_structure(data, size);
  if (size > 0) observe_header(data, size);
  const std::string source = "fuzz.jpg";
  JpegHeader header;
  try {
    header = read_jpeg_header(data, size, source);
  } catch (const ff::Error&) {
    // decode_* must then fail too (they read the same header); run them to check they do so cleanly.
  }
  size_t call = 0;
  for (const bool warnings_are_errors : {true, false}) {
    JpegDecodeOptions options;
    options.warnings_are_errors = warnings_are_errors;
    try {
      RgbImage image;
      decode_jpeg(data, size, source, image, options);
      require_shape(image, header.height, header.width, "decode_jpeg");
      mark(kDecodedSize + call * 256 + log2_bucket(image.height, 16) * 16 + log2_bucket(image.width, 16));
    } catch (const ff::Error& e) {
      observe_error(call, e);
    }
    ++call;
  }
  const int target_sizes[][2] = {{112, 112}, {32, 24}};
  for (const auto& target : target_sizes) {
    try {
      RgbImage out, scratch;
      const bool resized = decode_face_image(data, size, source, target[0], target[1], out, scratch);
      require_shape(out, target[0], target[1], "decode_face_image");
      mark(kDecodedSize + call * 256 + (resized ? 1 : 0));
    } catch (const ff::Error& e) {
      observe_error(call, e);
    }
    ++call;
  }
  return 0;
}
