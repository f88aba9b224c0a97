#include "data/recordio/image_record.h"

#include <cmath>

#include "data/common/little_endian.h"
#include "framework/common/check.h"

namespace ff::data {

ImageRecord parse_image_record(const uint8_t* payload, size_t size, const RecordRef& where) {
  FF_CHECK(size >= kIRHeaderBytes, "RecordIO {}: payload of {} bytes is shorter than the 24-byte image record header",
           where.describe(), size);
  ImageRecord r;
  r.header.flag = load_le_u32(payload);
  r.header.label = load_le_f32(payload + 4);
  r.header.id = load_le_u64(payload + 8);
  r.header.id2 = load_le_u64(payload + 16);
  const uint64_t label_bytes = uint64_t{4} * r.header.flag;
  FF_CHECK(label_bytes <= size - kIRHeaderBytes,
           "RecordIO {}: header flag {} announces {} float labels but only {} bytes follow the header",
           where.describe(), r.header.flag, r.header.flag, size - kIRHeaderBytes);
  r.labels.resize(r.header.flag);
  for (uint32_t i = 0; i < r.header.flag; ++i) r.labels[i] = load_le_f32(payload + kIRHeaderBytes + 4 * i);
  r.image_offset = kIRHeaderBytes + static_cast<size_t>(label_bytes);
  r.image_size = size - r.image_offset;
  return r;
}

std::string pack_image_record(const IRHeader& header, const std::vector<float>& labels, const void* image,
                              size_t image_size) {
  FF_CHECK(labels.empty() || header.flag == 0 || header.flag == labels.size(),
           "pack_image_record: flag {} disagrees with {} labels", header.flag, labels.size());
  FF_CHECK(!labels.empty() || header.flag == 0, "pack_image_record: flag {} without a label array", header.flag);
  std::string out;
  out.reserve(kIRHeaderBytes + 4 * labels.size() + image_size);
  append_le_u32(out, labels.empty() ? 0u : static_cast<uint32_t>(labels.size()));
  append_le_f32(out, labels.empty() ? header.label : 0.0f);  // Python's pack writes 0.0 with an array
  append_le_u64(out, header.id);
  append_le_u64(out, header.id2);
  for (float l : labels) append_le_f32(out, l);
  if (image_size > 0) out.append(static_cast<const char*>(image), image_size);
  return out;
}

int32_t image_record_class(const ImageRecord& record, const RecordRef& where, int64_t num_classes) {
  const float value = record.header.flag == 0 ? record.header.label : record.labels.at(0);
  FF_CHECK(std::isfinite(value) && value > -1.0f && value < 2147483648.0f,
           "RecordIO {}: label {} is not a valid class id", where.describe(), value);
  const int64_t label = static_cast<int64_t>(value);  // truncation, as Python's int()
  FF_CHECK(label >= 0, "RecordIO {}: label {} is negative", where.describe(), value);
  FF_CHECK(num_classes <= 0 || label < num_classes, "RecordIO {}: label {} is out of range [0, {})", where.describe(),
           label, num_classes);
  return static_cast<int32_t>(label);
}

}  // namespace ff::data
