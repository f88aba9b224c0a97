// Little-endian loads and stores. Every on-disk format we read is little-endian whatever the
// host (formats.md, "Byte order"), so we never reinterpret raw memory as integers.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace ff::data {

inline uint32_t load_le_u32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

inline uint64_t load_le_u64(const uint8_t* p) {
  return uint64_t{load_le_u32(p)} | (uint64_t{load_le_u32(p + 4)} << 32);
}

inline int32_t load_le_i32(const uint8_t* p) { return static_cast<int32_t>(load_le_u32(p)); }
inline int64_t load_le_i64(const uint8_t* p) { return static_cast<int64_t>(load_le_u64(p)); }
inline uint16_t load_le_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

inline float load_le_f32(const uint8_t* p) {
  const uint32_t bits = load_le_u32(p);
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Appends to a byte string (std::string is the buffer type of the writers).
inline void append_le_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

inline void append_le_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

inline void append_le_f32(std::string& out, float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  append_le_u32(out, bits);
}

}  // namespace ff::data
