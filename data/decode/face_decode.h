// Decoding a training/validation face: JPEG -> RGB HWC at the network's input size.
//
// insightface's datasets store 112x112 aligned crops, so the common path is a plain decode.
// Any other size is resized with resize_bilinear (half-pixel centres, like cv2.INTER_LINEAR;
// see resize.h); the aspect ratio is not preserved, as the OneFlow port's Resize(112, 112).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "data/decode/image.h"
#include "data/decode/jpeg.h"

namespace ff::data {

// Decodes into `out` at height x width. `scratch` holds the full-size decode when a resize is
// needed (pass the same one again to reuse its allocation). Returns true if the image was resized.
bool decode_face_image(const uint8_t* data, size_t size, const std::string& source, int height, int width,
                       RgbImage& out, RgbImage& scratch, const JpegDecodeOptions& options = {});

}  // namespace ff::data
