// Procedural "faces" for the embedded synthetic-identity dataset.
//
// An identity is a set of parameters drawn from a Philox stream keyed by (seed, identity id):
// head shape and skin colour, a skin texture (oriented stripes), hair colour and hairline,
// eye spacing/size/iris colour, eyebrow tilt and thickness, nose, mouth width and curvature, and
// an 8-bit glyph code drawn as a dot pattern on the forehead. An image of an identity adds its own
// nuisance factors, keyed by (seed, identity, image index): pose (in-plane rotation, translation,
// scale, a little horizontal squash standing in for yaw), expression (mouth curvature, eye
// openness), lighting (brightness, contrast, colour cast, a side-light gradient), a random
// background, an occasional occluding bar, and Gaussian pixel noise.
//
// The nuisance factors carry most of the pixel energy while identity lives in geometry, colours
// and the glyph: raw-pixel similarity is a poor verifier but the task is learnable (numbers in
// docs/data.md). Everything is deterministic for a seed, on any machine and thread count.
#pragma once

#include <cstdint>

#include "data/decode/image.h"

namespace ff::data {

struct Rgb {
  float r = 0, g = 0, b = 0;
};

struct FaceIdentity {
  Rgb skin, hair, iris, lips, ink;
  float head_rx = 0.6f, head_ry = 0.78f;  // head ellipse radii, in units of half the image
  float hairline = -0.45f;                // v of the hairline
  float texture_freq = 8.f, texture_angle = 0.f, texture_phase = 0.f, texture_amp = 0.05f;
  float eye_y = -0.12f, eye_dx = 0.26f, eye_rx = 0.1f, eye_ry = 0.05f;
  float brow_gap = 0.1f, brow_tilt = 0.f, brow_thickness = 0.025f;
  float nose_length = 0.2f, nose_width = 0.05f;
  float mouth_y = 0.42f, mouth_half_width = 0.2f, mouth_curve = 0.3f, mouth_thickness = 0.03f;
  uint32_t glyph = 0;  // 8 bits, one dot per bit in a 4x2 grid on the forehead
};

// How strongly images of one identity vary (1 = the training distribution).
struct JitterStrength {
  float pose = 1.f;        // rotation, translation, scale and squash ranges
  float appearance = 1.f;  // lighting, expression, occlusion probability
  float noise = 1.f;       // pixel noise sigma
};

struct FaceImageJitter {
  float angle = 0.f;      // radians
  float tx = 0.f, ty = 0.f;  // in units of half the image
  float scale = 1.f;
  float squash = 1.f;     // horizontal compression (yaw-like)
  float mouth_curve_delta = 0.f;
  float eye_openness = 1.f;
  float brightness = 1.f, contrast = 1.f;
  Rgb cast{1.f, 1.f, 1.f};
  float light_angle = 0.f, light_strength = 0.f;
  Rgb background_a, background_b;  // gradient endpoints
  float background_angle = 0.f;
  bool occluder = false;
  float occluder_y = 0.f, occluder_height = 0.f;
  Rgb occluder_color;
  float noise_sigma = 4.f;  // 8-bit levels
};

FaceIdentity make_face_identity(uint64_t seed, int64_t identity);
FaceImageJitter make_face_jitter(uint64_t seed, int64_t identity, int64_t image_index,
                                 const JitterStrength& strength = {});

// Renders `size` x `size` RGB. `noise_key` selects the pixel noise (pass a value unique per image).
void render_face(const FaceIdentity& identity, const FaceImageJitter& jitter, int size, uint64_t noise_key,
                 RgbImage& out);

// make_face_identity + make_face_jitter + render_face.
RgbImage render_identity_image(uint64_t seed, int64_t identity, int64_t image_index, int size = 112,
                               const JitterStrength& strength = {});

}  // namespace ff::data
