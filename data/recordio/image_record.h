// MXNet image records (formats.md §3.3): a 24-byte IRHeader
//   uint32 flag | float32 label | uint64 id | uint64 id2
// then, when flag > 0, `flag` float32 labels (the label array), then the image bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/common/record_ref.h"

namespace ff::data {

struct IRHeader {
  uint32_t flag = 0;
  float label = 0.0f;  // meaningful when flag == 0
  uint64_t id = 0;
  uint64_t id2 = 0;
};

struct ImageRecord {
  IRHeader header;
  std::vector<float> labels;  // the label array (flag > 0)
  size_t image_offset = 0;    // where the image bytes start within the payload
  size_t image_size = 0;
};

inline constexpr size_t kIRHeaderBytes = 24;

// Parses a record payload; throws ff::Error naming `where` if the header or the label array
// does not fit. The image bytes are payload[image_offset, image_offset + image_size).
ImageRecord parse_image_record(const uint8_t* payload, size_t size, const RecordRef& where);

// IRHeader + label array + image bytes. flag is set to labels.size() when labels is non-empty
// (Python's pack with an array label), otherwise header.flag must be 0.
std::string pack_image_record(const IRHeader& header, const std::vector<float>& labels, const void* image,
                              size_t image_size);

// The class id of an image record as insightface reads it: header.label when flag == 0, else
// labels[0]; truncated toward zero like Python's int(). Throws unless it is finite, >= 0 and
// below num_classes (when num_classes > 0).
int32_t image_record_class(const ImageRecord& record, const RecordRef& where, int64_t num_classes);

}  // namespace ff::data
