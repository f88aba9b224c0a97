// insightface's MXNet face datasets (train.rec + train.idx, formats.md §3.4) as one
// random-access dataset of FaceExamples, read the way arcface_torch's MXFaceDataset does:
//
//   record 0 with flag > 0 (face2rec2 / RecBuilder layout): images are keys 1 .. label[0]-1;
//     the records after them (identity ranges) are not images;
//   otherwise (e.g. shuffle_rec.py output, no header): every key of the .idx, in file order.
//   Class id = header.label (flag 0) or label[0] (flag > 0), truncated as Python's int().
//
// Without an .idx, the .rec is scanned once and record positions serve as keys (insightface
// writes keys 0, 1, 2, ... in file order, so they agree). The JPEG bytes are passed on as
// stored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/common/bad_records.h"
#include "data/loader/record_source.h"
#include "data/recordio/image_record.h"
#include "data/recordio/recordio.h"

namespace ff::data {

struct MXFaceDatasetOptions {
  std::string idx_path;       // empty: scan the .rec sequentially
  int64_t num_classes = -1;   // > 0: a label outside [0, num_classes) is a bad record
  OnBadRecord on_bad_record = OnBadRecord::Throw;
  int max_consecutive_bad_records = 1000;  // SkipAndCount: get() gives up after this many in a row
};

class MXFaceDataset final : public RecordSource {
 public:
  MXFaceDataset(const std::string& rec_path, MXFaceDatasetOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(offsets_.size()); }
  // Throw mode: a bad record throws naming the .rec, the record key and the byte offset.
  // SkipAndCount: it is counted and the next good record is returned instead.
  FaceExample get(int64_t index) const override;
  bool try_get(int64_t index, FaceExample& out) const;
  std::string describe(int64_t index) const override;

  int64_t key(int64_t index) const;
  uint64_t offset(int64_t index) const { return offsets_.at(static_cast<size_t>(index)); }
  // Record 0 was an insightface header (flag > 0); its label array is header_labels().
  bool has_header_record() const { return has_header_; }
  const std::vector<float>& header_labels() const { return header_labels_; }
  // Identity count from the header's identity-record range [label[0], label[1]), or -1.
  int64_t header_num_identities() const;
  const BadRecordLog& bad_records() const { return *bad_; }
  const std::string& rec_path() const { return reader_.path(); }

 private:
  FaceExample read(int64_t index) const;

  MXFaceDatasetOptions options_;
  RecordIOReader reader_;
  std::vector<uint64_t> offsets_;  // image records' byte offsets
  std::vector<int64_t> keys_;      // their keys; empty when keys are first_key_ + index
  int64_t first_key_ = 0;
  bool has_header_ = false;
  std::vector<float> header_labels_;
  std::unique_ptr<BadRecordLog> bad_;
};

// Writes `examples` in insightface's layout (for tests, the synthetic generator and
// converters): record 0 = header (flag 2, label [N+1, N+1+C]), images 1..N with scalar labels
// (flag 0, RecBuilder style) or [class, 0] arrays (flag 2, face2rec2 style), then one identity
// record per class holding [first image id, end image id). Examples are grouped by label
// (stable), as insightface's writers produce them. Writes the .rec and .idx atomically.
void write_insightface_rec(const std::string& rec_path, const std::string& idx_path,
                           const std::vector<FaceExample>& examples, bool label_as_array = false);

}  // namespace ff::data
