#include "data/ofrecord/ofrecord_dataset.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "data/ofrecord/ofrecord_codec.h"
#include "framework/common/check.h"

namespace ff::data {

namespace fs = std::filesystem;

namespace {

// Lists "a, b, c, ... (N in all)" for messages.
std::string short_list(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 5; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 5) out += fmt::format(", ... ({} in all)", names.size());
  return out;
}

}  // namespace

std::vector<std::string> find_ofrecord_parts(const std::string& dir, int num_parts, const std::string& prefix,
                                             int suffix_length) {
  FF_CHECK(fs::is_directory(dir), "OFRecord dataset '{}' is not a directory", dir);
  FF_CHECK(num_parts >= 0, "OFRecord dataset '{}': num_parts must be >= 0, got {}", dir, num_parts);
  std::vector<std::string> paths;
  if (num_parts > 0) {
    std::vector<std::string> missing;
    for (int i = 0; i < num_parts; ++i) {
      const std::string name = ofrecord_part_name(i, suffix_length, prefix);
      paths.push_back(dir + "/" + name);
      if (!fs::is_regular_file(paths.back())) missing.push_back(name);
    }
    FF_CHECK(missing.empty(), "OFRecord dataset '{}': {} of {} part files are missing: {}", dir, missing.size(),
             num_parts, short_list(missing));
    return paths;
  }
  // Discovery: names that are exactly prefix + OneFlow's padded index.
  std::map<int64_t, std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    const int64_t index = std::stoll(digits);
    if (ofrecord_part_name(index, suffix_length, prefix) == name && entry.is_regular_file()) found[index] = name;
  }
  FF_CHECK(!found.empty(), "OFRecord dataset '{}': no part files named {} (suffix length {})", dir,
           ofrecord_part_name(0, suffix_length, prefix), suffix_length);
  const int64_t count = found.rbegin()->first + 1;
  std::vector<std::string> missing;
  for (int64_t i = 0; i < count; ++i) {
    if (!found.count(i)) missing.push_back(ofrecord_part_name(i, suffix_length, prefix));
  }
  FF_CHECK(missing.empty(), "OFRecord dataset '{}': found parts up to {} but {} are missing: {}", dir,
           found.rbegin()->second, missing.size(), short_list(missing));
  for (const auto& [index, name] : found) paths.push_back(dir + "/" + name);
  return paths;
}

OFRecordDataset::OFRecordDataset(const std::string& dir, OFRecordDatasetOptions options)
    : options_(std::move(options)), bad_(std::make_unique<BadRecordLog>()) {
  const auto paths =
      find_ofrecord_parts(dir, options_.num_parts, options_.part_name_prefix, options_.part_name_suffix_length);
  BadRecordLog* skip_log = options_.on_bad_record == OnBadRecord::SkipAndCount ? bad_.get() : nullptr;
  for (const auto& path : paths) {
    Part part;
    part.reader = std::make_unique<OFRecordPartReader>(path);
    part.offsets = part.reader->build_index(skip_log);
    part.first = total_;
    total_ += static_cast<int64_t>(part.offsets.size()) - 1;
    parts_.push_back(std::move(part));
  }
}

int64_t OFRecordDataset::part_size(int part) const {
  return static_cast<int64_t>(parts_.at(static_cast<size_t>(part)).offsets.size()) - 1;
}

OFRecordDataset::Location OFRecordDataset::locate(int64_t index) const {
  FF_CHECK(index >= 0 && index < total_, "OFRecord dataset: record {} is out of range [0, {})", index, total_);
  // The last part whose first record is <= index holds it: an empty part shares `first` with
  // the part after it, so it is never the last such part.
  auto it = std::upper_bound(parts_.begin(), parts_.end(), index,
                             [](int64_t i, const Part& p) { return i < p.first; });
  --it;
  return {&*it, index - it->first};
}

std::string OFRecordDataset::describe(int64_t index) const {
  const Location loc = locate(index);
  return RecordRef{loc.part->reader->path(), loc.local, loc.part->offsets[static_cast<size_t>(loc.local)]}.describe();
}

FaceExample OFRecordDataset::read(int64_t index) const {
  const Location loc = locate(index);
  const size_t i = static_cast<size_t>(loc.local);
  const uint64_t offset = loc.part->offsets[i];
  const std::vector<uint8_t> body = loc.part->reader->read_at(offset, loc.part->offsets[i + 1], loc.local);
  return parse_face_example(body.data(), body.size(), RecordRef{loc.part->reader->path(), loc.local, offset},
                            options_.num_classes);
}

bool OFRecordDataset::try_get(int64_t index, FaceExample& out) const {
  locate(index);  // an out-of-range index is a caller bug, never skipped
  return read_or_count(options_.on_bad_record, *bad_, out, [&] { return read(index); });
}

FaceExample OFRecordDataset::get(int64_t index) const {
  return get_or_next_good<FaceExample>(index, total_, options_.max_consecutive_bad_records, *bad_,
                                       [&](int64_t i, FaceExample& out) { return try_get(i, out); });
}

}  // namespace ff::data
