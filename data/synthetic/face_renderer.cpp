#include "data/synthetic/face_renderer.h"

#include <algorithm>
#include <cmath>

#include "data/loader/counter_rng.h"
#include "framework/common/check.h"

namespace ff::data {
namespace {

constexpr uint64_t kIdentityTag = 0x6964656e;  // "iden"
constexpr uint64_t kJitterTag = 0x6a697474;    // "jitt"
constexpr uint64_t kNoiseTag = 0x6e6f6973;     // "nois"

Rgb rgb(float r, float g, float b) { return {r, g, b}; }
Rgb scaled(const Rgb& c, float s) { return {c.r * s, c.g * s, c.b * s}; }
Rgb lerp(const Rgb& a, const Rgb& b, float t) {
  return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t};
}
Rgb random_color(CounterRng& rng, float lo = 0.f, float hi = 255.f) {
  return {rng.uniform(lo, hi), rng.uniform(lo, hi), rng.uniform(lo, hi)};
}

// Fraction of a pixel covered by a shape whose signed distance (negative inside) is `d`, for a
// pixel `aa` wide: a one-pixel linear ramp, enough anti-aliasing for JPEG-compressed output.
float coverage(float d, float aa) { return std::clamp(0.5f - d / aa, 0.f, 1.f); }

// Approximate signed distance to an ellipse: the implicit function's value divided by its
// gradient length, k0 (k0 - 1) / k1, accurate near the boundary (where coverage is decided) even
// for thin ellipses such as a half-closed eye.
float ellipse_distance(float u, float v, float cu, float cv, float rx, float ry) {
  const float x = (u - cu) / rx, y = (v - cv) / ry;
  const float k0 = std::sqrt(x * x + y * y);
  const float k1 = std::sqrt(x * x / (rx * rx) + y * y / (ry * ry));
  if (k1 < 1e-6f) return -std::min(rx, ry);  // the centre
  return k0 * (k0 - 1.f) / k1;
}

float circle_distance(float u, float v, float cu, float cv, float r) {
  const float du = u - cu, dv = v - cv;
  return std::sqrt(du * du + dv * dv) - r;
}

// Distance to the segment (x0,y0)-(x1,y1), minus the stroke radius.
float capsule_distance(float u, float v, float x0, float y0, float x1, float y1, float radius) {
  const float dx = x1 - x0, dy = y1 - y0;
  const float t = std::clamp(((u - x0) * dx + (v - y0) * dy) / (dx * dx + dy * dy), 0.f, 1.f);
  const float eu = u - (x0 + t * dx), ev = v - (y0 + t * dy);
  return std::sqrt(eu * eu + ev * ev) - radius;
}

// Whether (u, v) is within the box [cu +- ru] x [cv +- rv] grown by `margin`: shapes are only
// evaluated near where they can cover the pixel (rendering cost is dominated by these tests).
bool near(float u, float v, float cu, float cv, float ru, float rv, float margin) {
  return std::abs(u - cu) < ru + margin && std::abs(v - cv) < rv + margin;
}

// An approximately standard normal value from one random word: the Irwin-Hall sum of its four
// bytes (mean 510, std 147.8). Pixel noise does not need Gaussian tails, and this avoids a log,
// a sqrt and a cos per channel.
float byte_sum_normal(uint32_t w) {
  const int sum = static_cast<int>((w & 0xFFu) + ((w >> 8) & 0xFFu) + ((w >> 16) & 0xFFu) + (w >> 24));
  return static_cast<float>(sum - 510) * (1.f / 147.8f);
}

}  // namespace

FaceIdentity make_face_identity(uint64_t seed, int64_t identity) {
  CounterRng rng(mix64(mix64(seed, kIdentityTag), static_cast<uint64_t>(identity)), 0);
  FaceIdentity id;
  // Skin tones from pale to dark, all warm: identities are not told apart by hue alone.
  const float tone = rng.uniform(90.f, 235.f);
  id.skin = rgb(tone, tone * rng.uniform(0.68f, 0.86f), tone * rng.uniform(0.55f, 0.78f));
  id.hair = random_color(rng, 10.f, 200.f);
  id.iris = random_color(rng, 20.f, 220.f);
  id.lips = rgb(rng.uniform(120.f, 220.f), rng.uniform(40.f, 110.f), rng.uniform(50.f, 120.f));
  id.ink = random_color(rng, 0.f, 255.f);
  id.head_rx = rng.uniform(0.50f, 0.66f);
  id.head_ry = rng.uniform(0.70f, 0.84f);
  id.texture_freq = rng.uniform(6.f, 18.f);
  id.texture_angle = rng.uniform(0.f, 3.14159265f);
  id.texture_phase = rng.uniform(0.f, 6.2831853f);
  id.texture_amp = rng.uniform(0.03f, 0.10f);
  id.eye_y = rng.uniform(-0.20f, -0.06f);
  id.eye_dx = rng.uniform(0.19f, 0.31f);
  id.eye_rx = rng.uniform(0.07f, 0.12f);
  id.eye_ry = rng.uniform(0.035f, 0.06f);
  id.brow_gap = rng.uniform(0.07f, 0.13f);
  id.brow_tilt = rng.uniform(-0.05f, 0.05f);
  id.brow_thickness = rng.uniform(0.012f, 0.035f);
  id.hairline = id.eye_y - id.brow_gap - rng.uniform(0.24f, 0.36f);
  id.nose_length = rng.uniform(0.14f, 0.26f);
  id.nose_width = rng.uniform(0.035f, 0.075f);
  id.mouth_y = std::max(id.eye_y + 0.08f + id.nose_length + 0.08f, rng.uniform(0.30f, 0.50f));
  id.mouth_half_width = rng.uniform(0.12f, 0.26f);
  id.mouth_curve = rng.uniform(-0.8f, 0.8f);
  id.mouth_thickness = rng.uniform(0.015f, 0.04f);
  id.glyph = rng.next_u32() & 0xFFu;
  return id;
}

FaceImageJitter make_face_jitter(uint64_t seed, int64_t identity, int64_t image_index, const JitterStrength& s) {
  CounterRng rng(mix64(mix64(seed, kJitterTag), static_cast<uint64_t>(identity)), static_cast<uint64_t>(image_index));
  FaceImageJitter j;
  j.angle = rng.uniform(-0.20f, 0.20f) * s.pose;
  j.tx = rng.uniform(-0.08f, 0.08f) * s.pose;
  j.ty = rng.uniform(-0.08f, 0.08f) * s.pose;
  j.scale = 1.f + rng.uniform(-0.10f, 0.10f) * s.pose;
  j.squash = 1.f - rng.uniform(0.f, 0.12f) * s.pose;
  j.mouth_curve_delta = rng.uniform(-0.5f, 0.5f) * s.appearance;
  j.eye_openness = std::max(0.3f, 1.f - rng.uniform(0.f, 0.5f) * s.appearance);
  j.brightness = 1.f + rng.uniform(-0.30f, 0.30f) * s.appearance;
  j.contrast = 1.f + rng.uniform(-0.25f, 0.25f) * s.appearance;
  j.cast = rgb(1.f + rng.uniform(-0.08f, 0.08f) * s.appearance, 1.f + rng.uniform(-0.08f, 0.08f) * s.appearance,
               1.f + rng.uniform(-0.08f, 0.08f) * s.appearance);
  j.light_angle = rng.uniform(0.f, 6.2831853f);
  j.light_strength = rng.uniform(0.f, 0.35f) * s.appearance;
  j.background_a = random_color(rng);
  j.background_b = random_color(rng);
  j.background_angle = rng.uniform(0.f, 6.2831853f);
  j.occluder = rng.coin(std::min(1.f, 0.15f * s.appearance));
  j.occluder_y = rng.uniform(-0.2f, 0.45f);
  j.occluder_height = rng.uniform(0.08f, 0.18f);
  j.occluder_color = random_color(rng);
  j.noise_sigma = rng.uniform(2.f, 8.f) * s.noise;
  return j;
}

void render_face(const FaceIdentity& id, const FaceImageJitter& jit, int size, uint64_t noise_key, RgbImage& out) {
  FF_CHECK(size >= 8, "render_face: image size {} is too small", size);
  out.resize(size, size);
  CounterRng noise(mix64(noise_key, kNoiseTag), 0);
  const float half = size * 0.5f;
  const float aa = 2.f / size / jit.scale;  // one pixel in face units
  const float ca = std::cos(-jit.angle), sa = std::sin(-jit.angle);
  const float bg_dx = std::cos(jit.background_angle), bg_dy = std::sin(jit.background_angle);
  const float light_dx = std::cos(jit.light_angle), light_dy = std::sin(jit.light_angle);
  const float tex_dx = std::cos(id.texture_angle), tex_dy = std::sin(id.texture_angle);
  const float eye_ry = id.eye_ry * jit.eye_openness;
  const float brow_y = id.eye_y - id.brow_gap;
  const float mouth_curve = id.mouth_curve + jit.mouth_curve_delta;
  const float nose_top = id.eye_y + 0.05f, nose_bottom = nose_top + id.nose_length;

  const float iris_r = std::min(eye_ry, id.eye_rx * 0.55f);
  const float glyph_top = brow_y - 0.15f - 0.03f, glyph_bottom = brow_y - 0.075f + 0.03f;
  const float head_margin = 0.15f;  // hair ellipse and anti-aliasing around the head

  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      // Image coordinates in [-1, 1], then the inverse pose into face coordinates (u, v).
      const float px = (x + 0.5f) / half - 1.f, py = (y + 0.5f) / half - 1.f;
      const float qx = (px - jit.tx) / jit.scale, qy = (py - jit.ty) / jit.scale;
      const float u = (ca * qx - sa * qy) / jit.squash, v = sa * qx + ca * qy;

      Rgb c = lerp(jit.background_a, jit.background_b, 0.5f + 0.35f * (px * bg_dx + py * bg_dy));
      float head = 0.f;
      if (near(u, v, 0.f, -0.03f, id.head_rx, id.head_ry + 0.03f, head_margin)) {
        // Hair behind the head, the head, then the hair cap above the hairline.
        c = lerp(c, id.hair, coverage(ellipse_distance(u, v, 0.f, -0.06f, id.head_rx + 0.07f, id.head_ry + 0.05f), aa));
        head = coverage(ellipse_distance(u, v, 0.f, 0.f, id.head_rx, id.head_ry), aa);
      }
      if (head > 0.f) {
        const float texture =
            1.f + id.texture_amp * std::sin(id.texture_freq * (u * tex_dx + v * tex_dy) + id.texture_phase);
        c = lerp(c, scaled(id.skin, texture), head);
        c = lerp(c, id.hair, head * coverage(v - id.hairline, aa * 2.f));
        // Glyph: 8 dots in a 4x2 grid on the forehead.
        if (v > glyph_top - aa && v < glyph_bottom + aa) {
          for (int bit = 0; bit < 8; ++bit) {
            if (!((id.glyph >> bit) & 1u)) continue;
            const float gu = -0.195f + 0.13f * (bit % 4), gv = brow_y - 0.075f - 0.075f * (bit / 4);
            if (!near(u, v, gu, gv, 0.028f, 0.028f, aa)) continue;
            c = lerp(c, id.ink, 0.85f * coverage(circle_distance(u, v, gu, gv, 0.028f), aa));
          }
        }
        for (int side = -1; side <= 1; side += 2) {
          const float ex = side * id.eye_dx;
          if (near(u, v, ex, id.eye_y, id.eye_rx, eye_ry, aa)) {
            c = lerp(c, rgb(240.f, 240.f, 235.f), coverage(ellipse_distance(u, v, ex, id.eye_y, id.eye_rx, eye_ry), aa));
            c = lerp(c, id.iris, coverage(circle_distance(u, v, ex, id.eye_y, iris_r), aa));
            c = lerp(c, rgb(15.f, 15.f, 20.f), coverage(circle_distance(u, v, ex, id.eye_y, iris_r * 0.45f), aa));
          }
          if (near(u, v, ex, brow_y, id.eye_rx, std::abs(id.brow_tilt), id.brow_thickness + aa)) {
            const float bx0 = ex - side * id.eye_rx, bx1 = ex + side * id.eye_rx;
            c = lerp(c, scaled(id.hair, 0.8f),
                     coverage(capsule_distance(u, v, bx0, brow_y + id.brow_tilt, bx1, brow_y - id.brow_tilt,
                                               id.brow_thickness), aa));
          }
          if (near(u, v, side * id.nose_width, nose_bottom, 0.022f, 0.022f, aa)) {
            c = lerp(c, scaled(id.skin, 0.45f), coverage(circle_distance(u, v, side * id.nose_width, nose_bottom, 0.022f), aa));
          }
        }
        const float nose_r = id.nose_width * 0.45f;
        if (near(u, v, 0.f, 0.5f * (nose_top + nose_bottom), 0.f, 0.5f * id.nose_length, nose_r + aa)) {
          c = lerp(c, scaled(id.skin, 0.8f), 0.8f * coverage(capsule_distance(u, v, 0.f, nose_top, 0.f, nose_bottom, nose_r), aa));
        }
        // Mouth: a stroke along a parabola; corners rise for a positive curve (a smile).
        if (near(u, v, 0.f, id.mouth_y, id.mouth_half_width, 0.06f * std::abs(mouth_curve) + id.mouth_thickness, aa)) {
          const float t = std::clamp(u / id.mouth_half_width, -1.f, 1.f);
          const float centre = id.mouth_y - 0.06f * mouth_curve * (t * t - 0.5f);
          const float d = std::max(std::abs(v - centre) - id.mouth_thickness, std::abs(u) - id.mouth_half_width);
          c = lerp(c, id.lips, coverage(d, aa));
        }
        // Side light on the face only.
        c = scaled(c, 1.f + head * jit.light_strength * (u * light_dx + v * light_dy));
      }
      // The occluder is a bar in face coordinates (glasses, a hand).
      if (jit.occluder) {
        const float d = std::max(std::abs(v - jit.occluder_y) - jit.occluder_height * 0.5f, std::abs(u) - id.head_rx);
        c = lerp(c, jit.occluder_color, coverage(d, aa));
      }
      uint8_t* p = out.pixel(y, x);
      const float channel[3] = {c.r * jit.cast.r, c.g * jit.cast.g, c.b * jit.cast.b};
      for (int ch = 0; ch < 3; ++ch) {
        const float value = ((channel[ch] - 128.f) * jit.contrast + 128.f) * jit.brightness +
                            jit.noise_sigma * byte_sum_normal(noise.next_u32());
        p[ch] = static_cast<uint8_t>(std::clamp(static_cast<int>(std::lround(value)), 0, 255));
      }
    }
  }
}

RgbImage render_identity_image(uint64_t seed, int64_t identity, int64_t image_index, int size,
                               const JitterStrength& strength) {
  RgbImage image;
  render_face(make_face_identity(seed, identity), make_face_jitter(seed, identity, image_index, strength), size,
              mix64(mix64(seed, static_cast<uint64_t>(identity)), static_cast<uint64_t>(image_index)), image);
  return image;
}

}  // namespace ff::data
