// A directory of OneFlow OFRecord part files as one random-access dataset of FaceExamples
// (insightface's OneFlow port: keys "encoded" and "label", formats.md §1.4).
//
//   OFRecordDatasetOptions opts;
//   opts.num_parts = 16;           // exactly part-00000 ... part-00015 must exist (0: discover)
//   opts.num_classes = 93431;      // labels must lie in [0, num_classes)
//   opts.on_bad_record = OnBadRecord::SkipAndCount;
//   OFRecordDataset train("/data/ms1m/ofrecord/train", opts);
//   FaceExample e = train.get(i);  // thread-safe
//
// Opening scans the 8-byte length prefixes of every part (no image data) to build an offset
// index (8 bytes per record). Empty parts are valid; other files in the directory (Spark's
// _SUCCESS, temporaries) are ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/common/bad_records.h"
#include "data/loader/record_source.h"
#include "data/ofrecord/ofrecord_part_reader.h"

namespace ff::data {

struct OFRecordDatasetOptions {
  int num_parts = 0;  // > 0: parts 0..num_parts-1 must all exist; 0: use every part found (contiguous from 0)
  std::string part_name_prefix = "part-";
  int part_name_suffix_length = 5;  // OneFlow's part_name_suffix_length; <= 1 means "part-0", "part-1", ...
  int64_t num_classes = -1;         // > 0: a label outside [0, num_classes) is a bad record
  OnBadRecord on_bad_record = OnBadRecord::Throw;
  // SkipAndCount: get() replaces a bad record by the next good one, but gives up (throws) after
  // this many bad records in a row, which means the data is broken rather than damaged.
  int max_consecutive_bad_records = 1000;
};

class OFRecordDataset final : public RecordSource {
 public:
  OFRecordDataset(const std::string& dir, OFRecordDatasetOptions options = {});

  int64_t size() const override { return total_; }
  // Throw mode: a bad record throws ff::Error naming its part file, record index and offset.
  // SkipAndCount: it is counted in bad_records() and the next good record is returned instead.
  FaceExample get(int64_t index) const override;
  // Decodes record `index` into `out`; returns false (and counts it) for a bad record in
  // SkipAndCount mode. Throws in Throw mode.
  bool try_get(int64_t index, FaceExample& out) const;
  std::string describe(int64_t index) const override;

  int num_parts() const { return static_cast<int>(parts_.size()); }
  const std::string& part_path(int part) const { return parts_[static_cast<size_t>(part)].reader->path(); }
  int64_t part_size(int part) const;
  const BadRecordLog& bad_records() const { return *bad_; }
  const OFRecordDatasetOptions& options() const { return options_; }

 private:
  struct Part {
    std::unique_ptr<OFRecordPartReader> reader;
    std::vector<uint64_t> offsets;  // record prefix offsets + end sentinel
    int64_t first = 0;              // global index of its first record
  };
  struct Location {
    const Part* part;
    int64_t local;
  };
  Location locate(int64_t index) const;
  FaceExample read(int64_t index) const;

  OFRecordDatasetOptions options_;
  std::vector<Part> parts_;
  int64_t total_ = 0;
  std::unique_ptr<BadRecordLog> bad_;
};

// Paths of the part files of `dir` under OneFlow's naming: with num_parts > 0 exactly parts
// 0..num_parts-1 (throws naming the missing ones); with num_parts == 0 every part found, which
// must be numbered contiguously from 0.
std::vector<std::string> find_ofrecord_parts(const std::string& dir, int num_parts, const std::string& prefix = "part-",
                                             int suffix_length = 5);

}  // namespace ff::data
