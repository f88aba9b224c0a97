// Helpers for the dataset-format tests: hex test vectors, fake JPEG payloads, example sets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/ofrecord/ofrecord_writer.h"
#include "tests/io/io_test_util.h"

namespace ff::testing {

// "0A 0E 0A" -> bytes (spaces ignored; 'xyz' quoted ASCII allowed, as in formats.md vectors).
inline std::string hex_bytes(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == ' ' || c == '|' || c == '\n') {
      ++i;
    } else if (c == '\'') {
      const size_t end = text.find('\'', i + 1);
      out += text.substr(i + 1, end - i - 1);
      i = end + 1;
    } else {
      out.push_back(static_cast<char>(std::stoi(text.substr(i, 2), nullptr, 16)));
      i += 2;
    }
  }
  return out;
}

inline std::vector<uint8_t> to_vec(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// A JPEG-looking payload (SOI marker, varied body, EOI) of `size` bytes, distinct per seed.
inline std::vector<uint8_t> fake_jpeg(uint32_t seed, size_t size = 300) {
  std::vector<uint8_t> out(size < 4 ? 4 : size);
  out[0] = 0xFF;
  out[1] = 0xD8;
  uint32_t x = seed * 2654435761u + 12345u;
  for (size_t i = 2; i + 2 < out.size(); ++i) {
    x = x * 1664525u + 1013904223u;
    out[i] = static_cast<uint8_t>(x >> 24);
  }
  out[out.size() - 2] = 0xFF;
  out[out.size() - 1] = 0xD9;
  return out;
}

inline std::vector<data::FaceExample> fake_examples(int n, int num_classes, size_t size = 300) {
  std::vector<data::FaceExample> out;
  for (int i = 0; i < n; ++i) {
    data::FaceExample e;
    e.encoded_jpeg = fake_jpeg(static_cast<uint32_t>(i), size + static_cast<size_t>(i % 7));
    e.label = i % num_classes;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace ff::testing
