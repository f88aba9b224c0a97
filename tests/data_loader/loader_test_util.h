// Record sources for the loader tests: synthetic faces in memory, with optional bad records,
// a slow get() (to catch workers mid-batch) and a non-ff exception; and reading batches back
// out of a loader to compare them byte for byte.
#pragma once

#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

#include "data/decode/jpeg.h"
#include "data/loader/data_loader.h"
#include "data/loader/record_source.h"
#include "data/synthetic/face_renderer.h"

namespace ff::data::testing {

// n records of 112x112 faces (label = index % 7); every `odd_size_every`-th one is 120x96 instead.
inline std::vector<FaceExample> face_records(int64_t n, int odd_size_every = 0) {
  std::vector<FaceExample> out;
  for (int64_t i = 0; i < n; ++i) {
    FaceExample e;
    e.label = static_cast<int32_t>(i % 7);
    if (odd_size_every > 0 && i % odd_size_every == odd_size_every - 1) {
      RgbImage img(120, 96);
      for (size_t p = 0; p < img.pixels.size(); ++p) img.pixels[p] = static_cast<uint8_t>((p * 7 + i) % 251);
      e.encoded_jpeg = encode_jpeg(img, 95);
    } else {
      e.encoded_jpeg = encode_jpeg(render_identity_image(11, e.label, i, 112), 95);
    }
    out.push_back(std::move(e));
  }
  return out;
}

class TestSource final : public RecordSource {
 public:
  explicit TestSource(std::vector<FaceExample> records) : records_(std::move(records)) {}
  int64_t size() const override { return static_cast<int64_t>(records_.size()); }
  FaceExample get(int64_t index) const override {
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (throws_std.count(index)) throw std::runtime_error("disk on fire");
    FaceExample e = records_.at(static_cast<size_t>(index));
    if (corrupt.count(index)) e.encoded_jpeg.assign({0xFF, 0xD8, 0xFF, 0x00, 0x13, 0x37});
    if (damaged.count(index)) {  // the tables and frame header overwritten, as by a bad sector
      for (size_t i = 20; i < 400 && i < e.encoded_jpeg.size(); ++i) e.encoded_jpeg[i] = 0x55;
    }
    if (label_override.count(index)) e.label = label_override.at(index);
    return e;
  }
  std::string describe(int64_t index) const override { return "test-part record " + std::to_string(index); }

  std::set<int64_t> corrupt;   // replaced by 6 bytes that are not a JPEG
  std::set<int64_t> damaged;   // JPEG headers overwritten mid-file
  std::map<int64_t, int32_t> label_override;
  std::set<int64_t> throws_std;
  int delay_ms = 0;

 private:
  std::vector<FaceExample> records_;
};

// Every batch the loader still has in the current epoch.
inline std::vector<Batch> drain(DataLoader& loader) {
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

// The whole of `epoch`, from its first batch.
inline std::vector<Batch> load_epoch(DataLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  return drain(loader);
}

// Same dtype, shape and element bytes (both contiguous CPU tensors).
inline bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.sizes() == b.sizes() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.numel() * a.element_size()) == 0;
}

}  // namespace ff::data::testing
