// Bilinear resizing of RGB HWC images.
//
// Method: half-pixel centres (align_corners = false), the mapping cv2.resize(INTER_LINEAR),
// PIL (for upsampling) and torch's interpolate(align_corners=False) use:
//     src = (dst + 0.5) * (src_size / dst_size) - 0.5,
// clamped to [0, src_size - 1] at the borders (border pixels replicate). Downscaling takes no
// area average (no anti-aliasing), as INTER_LINEAR. Weights are computed in float and the result
// is rounded to nearest, so values can differ by 1 from OpenCV, which uses 11-bit fixed point.
#pragma once

#include "data/decode/image.h"

namespace ff::data {

// Resizes `src` into `dst` (dst is resized to out_height x out_width). Same-size input copies.
void resize_bilinear(const RgbImage& src, int out_height, int out_width, RgbImage& dst);
RgbImage resize_bilinear(const RgbImage& src, int out_height, int out_width);

}  // namespace ff::data
