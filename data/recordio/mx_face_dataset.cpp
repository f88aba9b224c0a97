#include "data/recordio/mx_face_dataset.h"

#include <algorithm>
#include <cmath>

#include "data/recordio/idx_file.h"
#include "framework/common/check.h"

namespace ff::data {

namespace {

// Indexes a .rec without an .idx. Keys are the records' IRHeader ids when those increase
// strictly (insightface writes id = key), else record positions. Skip-and-count resynchronises
// on the next magic word (dmlc's rule), so one damaged record does not lose the rest of the
// file, and with ids as keys the records after it keep their true keys.
std::vector<IdxEntry> scan_records(const RecordIOReader& reader, BadRecordLog* skip_log) {
  std::vector<IdxEntry> entries;
  std::vector<uint64_t> ids;
  bool ids_increase = true;
  uint64_t offset = 0;
  std::vector<uint8_t> payload;
  while (offset < reader.file_size()) {
    const int64_t position = static_cast<int64_t>(entries.size());
    try {
      const uint64_t next = reader.skip(offset, position);
      const uint64_t id = reader.read_image_record_id(offset, position);
      ids_increase = ids_increase && (ids.empty() || id > ids.back()) && id <= uint64_t{1} << 62;
      ids.push_back(id);
      entries.push_back({position, offset});
      offset = next;
    } catch (const Error& e) {
      if (!skip_log) throw;
      const uint64_t resume = reader.find_record_start(offset + 4);
      skip_log->report(fmt::format("{} [skipped {} bytes to the next record start]", e.what(), resume - offset));
      offset = resume;
    }
  }
  if (ids_increase) {
    for (size_t i = 0; i < entries.size(); ++i) entries[i].key = static_cast<int64_t>(ids[i]);
  }
  return entries;
}

}  // namespace

MXFaceDataset::MXFaceDataset(const std::string& rec_path, MXFaceDatasetOptions options)
    : options_(std::move(options)), reader_(rec_path), bad_(std::make_unique<BadRecordLog>()) {
  BadRecordLog* skip_log = options_.on_bad_record == OnBadRecord::SkipAndCount ? bad_.get() : nullptr;
  std::vector<IdxEntry> entries = options_.idx_path.empty() ? scan_records(reader_, skip_log)
                                                            : read_idx_file(options_.idx_path, reader_.file_size());
  const std::string source = options_.idx_path.empty() ? "the scanned .rec" : "index '" + options_.idx_path + "'";

  // Record 0 decides the layout. A broken header makes the whole dataset ambiguous: always fatal.
  const auto zero = std::find_if(entries.begin(), entries.end(), [](const IdxEntry& e) { return e.key == 0; });
  if (zero != entries.end()) {
    std::vector<uint8_t> payload;
    reader_.read(zero->offset, 0, &payload);
    const RecordRef where{reader_.path(), 0, zero->offset};
    const ImageRecord header = parse_image_record(payload.data(), payload.size(), where);
    if (header.header.flag > 0) {
      has_header_ = true;
      header_labels_ = header.labels;
      const double end = header_labels_[0];
      FF_CHECK(std::isfinite(end) && end >= 1.0 && end <= 1e15,
               "RecordIO {}: header record label[0] = {} is not a valid image-id range end", where.describe(), end);
      const int64_t end_key = static_cast<int64_t>(end);  // Python int(): truncation
      // Images are keys 1 .. end_key-1, in key order (arcface_torch: range(1, int(label[0]))).
      std::vector<IdxEntry> images;
      images.reserve(static_cast<size_t>(std::min<int64_t>(end_key, static_cast<int64_t>(entries.size()))));
      for (const IdxEntry& e : entries) {
        if (e.key >= 1 && e.key < end_key) images.push_back(e);
      }
      std::sort(images.begin(), images.end(), [](const IdxEntry& a, const IdxEntry& b) { return a.key < b.key; });
      const int64_t missing = (end_key - 1) - static_cast<int64_t>(images.size());
      if (missing > 0) {
        int64_t first_missing = 1;
        for (const IdxEntry& e : images) {
          if (e.key != first_missing) break;
          ++first_missing;
        }
        const std::string message = fmt::format(
            "RecordIO '{}': header record 0 says images are keys 1..{}, but {} of them are missing from {} (first "
            "missing key: {})",
            reader_.path(), end_key - 1, missing, source, first_missing);
        FF_CHECK(skip_log != nullptr, "{}", message);
        skip_log->report(message);
      }
      entries = std::move(images);
    }
  }
  // Keys are stored only when they are not simply first_key_ + index (the common case).
  first_key_ = entries.empty() ? 0 : entries[0].key;
  bool contiguous = true;
  offsets_.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    offsets_.push_back(entries[i].offset);
    contiguous = contiguous && entries[i].key == first_key_ + static_cast<int64_t>(i);
  }
  if (!contiguous) {
    keys_.reserve(entries.size());
    for (const IdxEntry& e : entries) keys_.push_back(e.key);
  }
}

int64_t MXFaceDataset::key(int64_t index) const {
  FF_CHECK(index >= 0 && index < size(), "RecordIO '{}': image {} is out of range [0, {})", reader_.path(), index,
           size());
  return keys_.empty() ? first_key_ + index : keys_[static_cast<size_t>(index)];
}

int64_t MXFaceDataset::header_num_identities() const {
  if (!has_header_ || header_labels_.size() < 2) return -1;
  const double begin = header_labels_[0], end = header_labels_[1];
  // Unchecked floats from the file: a NaN or huge value must not reach an integer cast.
  if (!(begin >= 0 && end >= begin && end <= 1e15)) return -1;
  return static_cast<int64_t>(end) - static_cast<int64_t>(begin);
}

std::string MXFaceDataset::describe(int64_t index) const {
  return RecordRef{reader_.path(), key(index), offset(index)}.describe();
}

FaceExample MXFaceDataset::read(int64_t index) const {
  const RecordRef where{reader_.path(), key(index), offset(index)};
  std::vector<uint8_t> payload;
  reader_.read(where.offset, where.index, &payload);
  const ImageRecord record = parse_image_record(payload.data(), payload.size(), where);
  FF_CHECK(record.image_size > 0, "RecordIO {}: the record holds no image bytes (an identity or header record?)",
           where.describe());
  FaceExample e;
  e.label = image_record_class(record, where, options_.num_classes);
  e.encoded_jpeg.assign(payload.begin() + static_cast<std::ptrdiff_t>(record.image_offset), payload.end());
  return e;
}

bool MXFaceDataset::try_get(int64_t index, FaceExample& out) const {
  key(index);  // an out-of-range index is a caller bug, never skipped
  return read_or_count(options_.on_bad_record, *bad_, out, [&] { return read(index); });
}

FaceExample MXFaceDataset::get(int64_t index) const {
  return get_or_next_good<FaceExample>(index, size(), options_.max_consecutive_bad_records, *bad_,
                                       [&](int64_t i, FaceExample& out) { return try_get(i, out); });
}

void write_insightface_rec(const std::string& rec_path, const std::string& idx_path,
                           const std::vector<FaceExample>& examples, bool label_as_array) {
  std::vector<size_t> order(examples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return examples[a].label < examples[b].label; });
  int64_t num_classes = 0;
  for (const auto& e : examples) {
    FF_CHECK(e.label >= 0, "write_insightface_rec('{}'): negative label {}", rec_path, e.label);
    num_classes = std::max<int64_t>(num_classes, int64_t{e.label} + 1);
  }
  const int64_t n = static_cast<int64_t>(examples.size());
  RecordIOWriter writer(rec_path, idx_path);
  auto as_float = [](int64_t v) { return static_cast<float>(v); };
  const std::vector<float> header_labels{as_float(n + 1), as_float(n + 1 + num_classes)};
  IRHeader header;
  header.flag = 2;
  writer.write(0, pack_image_record(header, header_labels, nullptr, 0));
  std::vector<int64_t> class_begin(static_cast<size_t>(num_classes) + 1, n + 1);
  for (int64_t i = n - 1; i >= 0; --i) class_begin[static_cast<size_t>(examples[order[i]].label)] = i + 1;
  for (int64_t c = num_classes - 1; c >= 0; --c) {  // empty classes start where the next one does
    class_begin[c] = std::min(class_begin[c], class_begin[c + 1]);
  }
  for (int64_t i = 0; i < n; ++i) {
    const FaceExample& e = examples[order[static_cast<size_t>(i)]];
    IRHeader h;
    h.id = static_cast<uint64_t>(i + 1);
    h.label = as_float(e.label);
    const std::vector<float> labels = label_as_array ? std::vector<float>{as_float(e.label), 0.0f} : std::vector<float>{};
    writer.write(i + 1, pack_image_record(h, labels, e.encoded_jpeg.data(), e.encoded_jpeg.size()));
  }
  for (int64_t c = 0; c < num_classes; ++c) {
    IRHeader h;
    h.id = static_cast<uint64_t>(n + 1 + c);
    writer.write(n + 1 + c, pack_image_record(h, {as_float(class_begin[c]), as_float(class_begin[c + 1])}, nullptr, 0));
  }
  writer.close();
}

}  // namespace ff::data
