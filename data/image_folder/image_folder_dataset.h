// A directory of identity folders as a dataset of FaceExamples:
//
//   root/<identity>/<image>.jpg
//
// Identity folder names are sorted (byte order) and numbered 0, 1, 2, ... — the label of every
// image inside. Images are files ending in .jpg or .jpeg (any case), sorted by name within each
// folder; other files and nested folders are ignored. JPEG only: the training pipeline decodes
// JPEG, so PNG and other formats must be converted first. Empty identity folders keep their
// label (so labels follow the sorted folder list) and are counted in empty_identities().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/common/bad_records.h"
#include "data/loader/record_source.h"

namespace ff::data {

struct ImageFolderOptions {
  OnBadRecord on_bad_record = OnBadRecord::Throw;  // bad = unreadable, empty, or not starting with a JPEG marker
  int max_consecutive_bad_records = 1000;
};

class ImageFolderDataset final : public RecordSource {
 public:
  explicit ImageFolderDataset(const std::string& root, ImageFolderOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  FaceExample get(int64_t index) const override;
  bool try_get(int64_t index, FaceExample& out) const;
  std::string describe(int64_t index) const override;

  int64_t num_identities() const { return static_cast<int64_t>(identities_.size()); }
  const std::vector<std::string>& identity_names() const { return identities_; }
  int64_t empty_identities() const { return empty_identities_; }
  const std::string& path(int64_t index) const;  // throws for an index outside [0, size())
  int32_t label(int64_t index) const;
  const BadRecordLog& bad_records() const { return *bad_; }

 private:
  FaceExample read(int64_t index) const;

  std::string root_;
  ImageFolderOptions options_;
  std::vector<std::string> identities_;
  std::vector<std::string> files_;
  std::vector<int32_t> labels_;
  int64_t empty_identities_ = 0;
  std::unique_ptr<BadRecordLog> bad_;
};

// True for names ending in .jpg / .jpeg, any case.
bool is_jpeg_file_name(const std::string& name);

}  // namespace ff::data
