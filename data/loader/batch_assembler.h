// Builds one batch from a list of record indices: read, decode (resizing non-112 images),
// augment, normalise, and write into an NCHW tensor plus int64 labels. Stateless apart from the
// counters, so loader workers share one assembler and call assemble() concurrently.
//
// The output depends only on (records, seed, epoch, the record indices): per-sample randomness
// is keyed by record index (augment.h), so batches are identical for any number of workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "data/common/bad_records.h"
#include "data/decode/jpeg.h"
#include "data/loader/augment.h"
#include "data/loader/batch.h"
#include "data/loader/record_source.h"

namespace ff::data {

struct AssemblerOptions {
  int image_height = 112;
  int image_width = 112;
  DType dtype = DType::Float32;  // Float32 or Float16
  uint64_t seed = 0;             // keys the per-sample augmentation
  AugmentOptions augment;
  JpegDecodeOptions jpeg;
  // SkipAndCount: a record that fails to read or decode is logged and its row filled with the
  // next good record of the same batch (cyclically), so batches keep their size and stay
  // deterministic. A batch with no good record at all still throws.
  OnBadRecord on_bad_record = OnBadRecord::Throw;
  // > 0: a label outside [0, num_classes) is a bad record, reported with the record's location
  // (file, record, offset) instead of surfacing later as an index error in the classifier.
  int64_t num_classes = -1;
  std::shared_ptr<HostBufferAllocator> allocator;  // null: default_host_buffer_allocator()
};

class BatchAssembler {
 public:
  BatchAssembler(std::shared_ptr<const RecordSource> source, AssemblerOptions options);

  // Throws ff::Error "data loader, epoch E batch B: <source's description>: <what>" in Throw mode.
  Batch assemble(const std::vector<int64_t>& record_indices, int64_t epoch, int64_t batch_index) const;

  const BadRecordLog& bad_records() const { return bad_records_; }
  int64_t resized_images() const { return resized_.load(std::memory_order_relaxed); }
  const AssemblerOptions& options() const { return options_; }

 private:
  // Decodes record `index` into row `row` of the batch; returns its label.
  int32_t load_row(int64_t index, bool flip, void* image_row) const;

  std::shared_ptr<const RecordSource> source_;
  AssemblerOptions options_;
  mutable BadRecordLog bad_records_;
  mutable std::atomic<int64_t> resized_{0};
};

}  // namespace ff::data
