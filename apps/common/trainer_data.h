// The trainer's dataset, opened from a TrainConfig (data_format / data_path), and where its
// verification .bin files are.
//
//   "ofrecord"   data_path = a directory of part-NNNNN files (OFRecordDataset)
//   "rec"        data_path = a directory holding train.rec + train.idx (MXFaceDataset)
//   "folder"     data_path = root/<identity>/<image>.jpg (ImageFolderDataset)
//   "synthetic"  data_path = a synthetic dataset directory (data/synthetic): generated there when
//                synthetic.json is missing (rank 0 writes it with synthetic_identities x
//                synthetic_images_per_identity images of input_size pixels, seeded by the config's
//                seed; the other ranks wait at a barrier), then read as OFRecords from data_path/train.
//
// num_classes: the config's value when > 0; otherwise the dataset's where it is known (identity
// folders, the .rec header record, a synthetic.json in data_path or its parent); else an error
// asking for num_classes.
// num_image: the config's value when > 0, otherwise the number of records.
// skip_bad_records: the dataset is opened in SkipAndCount mode (a truncated part's tail, an
// unreadable record are counted in `bad_records`); otherwise the first bad record throws.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/train_config.h"
#include "data/common/bad_records.h"
#include "data/loader/record_source.h"
#include "framework/distributed/communicator.h"

namespace ff::apps {

struct TrainData {
  std::shared_ptr<const data::RecordSource> source;
  int64_t num_classes = 0;
  int64_t num_image = 0;
  std::string description;  // "ofrecord /data/ms1m/train (5179510 records)"
  // The dataset's own count of skipped records (reading and framing errors); the loader counts
  // decoding and label errors separately. Owned by `source`.
  const data::BadRecordLog* bad_records = nullptr;
};

// Collective when data_format is "synthetic" (barrier after the generation).
TrainData open_train_data(const TrainConfig& config, distributed::Communicator& comm);

// The .bin path of each of config.val_targets: the first of <val_dir>/<name>.bin,
// <data_path>/<name>.bin, <data_path>/val/<name>.bin, <data_path>/../val/<name>.bin that exists.
// Throws naming the target and every place looked at when none does.
std::vector<std::string> find_validation_bins(const TrainConfig& config);

}  // namespace ff::apps
