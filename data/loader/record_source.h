// What the loader reads from: a random-access list of (JPEG bytes, label) records.
//
// Dataset readers (OFRecord parts, MXNet RecordIO, image folders) are adapted to this
// interface; the loader only ever asks for record i. Implementations must allow get() from
// several worker threads at once (pread-style file access or immutable in-memory data).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/ofrecord/ofrecord_writer.h"  // FaceExample

namespace ff::data {

class RecordSource {
 public:
  virtual ~RecordSource() = default;
  virtual int64_t size() const = 0;
  // Record `index` in [0, size()). Throws ff::Error naming the record on a read error.
  virtual FaceExample get(int64_t index) const = 0;
  // Where record `index` lives, for error messages: "part-00003 record 17" or a file path.
  virtual std::string describe(int64_t index) const { return "record " + std::to_string(index); }
};

// Records held in memory (the synthetic dataset, tests, small validation sets).
class InMemoryRecordSource final : public RecordSource {
 public:
  explicit InMemoryRecordSource(std::vector<FaceExample> examples, std::string name = "in-memory");
  int64_t size() const override { return static_cast<int64_t>(examples_.size()); }
  FaceExample get(int64_t index) const override;
  std::string describe(int64_t index) const override;
  const std::vector<FaceExample>& examples() const { return examples_; }

 private:
  std::vector<FaceExample> examples_;
  std::string name_;
};

}  // namespace ff::data
