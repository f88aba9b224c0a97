#include "data/image_folder/image_folder_dataset.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>

#include "data/common/file_io.h"
#include "framework/common/check.h"

namespace ff::data {

namespace fs = std::filesystem;

bool is_jpeg_file_name(const std::string& name) {
  const size_t dot = name.find_last_of('.');
  if (dot == std::string::npos || dot == 0) return false;
  std::string ext = name.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == "jpg" || ext == "jpeg";
}

ImageFolderDataset::ImageFolderDataset(const std::string& root, ImageFolderOptions options)
    : root_(root), options_(options), bad_(std::make_unique<BadRecordLog>()) {
  FF_CHECK(fs::is_directory(root), "image folder dataset: '{}' is not a directory", root);
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.is_directory()) identities_.push_back(entry.path().filename().string());
  }
  FF_CHECK(!identities_.empty(), "image folder dataset '{}': no identity folders (expected root/<identity>/<image>.jpg)",
           root);
  std::sort(identities_.begin(), identities_.end());
  FF_CHECK(identities_.size() <= static_cast<size_t>(INT32_MAX), "image folder dataset '{}': too many identities",
           root);
  for (size_t label = 0; label < identities_.size(); ++label) {
    const std::string dir = root + "/" + identities_[label];
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (is_jpeg_file_name(name) && !entry.is_directory()) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    if (names.empty()) ++empty_identities_;
    for (const auto& name : names) {
      files_.push_back(dir + "/" + name);
      labels_.push_back(static_cast<int32_t>(label));
    }
  }
  FF_CHECK(!files_.empty(), "image folder dataset '{}': {} identity folders but no .jpg/.jpeg files", root,
           identities_.size());
}

std::string ImageFolderDataset::describe(int64_t index) const {
  return fmt::format("'{}' (image {}, label {})", path(index), index, label(index));
}

FaceExample ImageFolderDataset::read(int64_t index) const {
  FaceExample e;
  e.label = label(index);
  const std::vector<uint8_t> bytes = read_whole_file(path(index));
  FF_CHECK(!bytes.empty(), "image folder dataset: '{}' (image {}) is empty", path(index), index);
  FF_CHECK(bytes.size() >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8,
           "image folder dataset: '{}' (image {}) does not start with a JPEG marker (FF D8) at byte offset 0",
           path(index), index);
  e.encoded_jpeg = bytes;
  return e;
}

bool ImageFolderDataset::try_get(int64_t index, FaceExample& out) const {
  path(index);  // an out-of-range index is a caller bug, never skipped
  return read_or_count(options_.on_bad_record, *bad_, out, [&] { return read(index); });
}

FaceExample ImageFolderDataset::get(int64_t index) const {
  return get_or_next_good<FaceExample>(index, size(), options_.max_consecutive_bad_records, *bad_,
                                       [&](int64_t i, FaceExample& out) { return try_get(i, out); });
}

const std::string& ImageFolderDataset::path(int64_t index) const {
  FF_CHECK(index >= 0 && index < size(), "image folder dataset '{}': image {} is out of range [0, {})", root_, index,
           size());
  return files_[static_cast<size_t>(index)];
}

int32_t ImageFolderDataset::label(int64_t index) const {
  path(index);  // range check
  return labels_[static_cast<size_t>(index)];
}

}  // namespace ff::data
