// One OFRecord <-> one FaceExample, with the keys insightface's OneFlow port uses
// (formats.md §1.4): "encoded" = bytes_list with one value (the JPEG), "label" = int32_list
// with one value (the class id).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "data/common/record_ref.h"
#include "data/ofrecord/ofrecord_writer.h"

namespace ff::data {

inline constexpr const char* kEncodedKey = "encoded";
inline constexpr const char* kLabelKey = "label";

// Serialized OFRecord body (without the 8-byte length frame). Keys are written in sorted order
// ("encoded", then "label") so the output is deterministic.
std::string serialize_face_example(const FaceExample& example);

// Parses a record body. Throws ff::Error naming `where` when the bytes are not an OFRecord,
// a key is missing or has the wrong list kind or count, or the label is outside
// [0, num_classes) (num_classes <= 0: only label >= 0 is checked).
// "label" may also be an int64_list whose value fits int32 (some converters write int64).
FaceExample parse_face_example(const uint8_t* data, size_t size, const RecordRef& where, int64_t num_classes = -1);

// "part-" + zero padding to `suffix_length` digits + index (OneFlow's naming; suffix_length
// <= len(index) means no padding, as OneFlow's default of -1 gives part-0, part-1, ...).
std::string ofrecord_part_name(int64_t index, int suffix_length = 5, const std::string& prefix = "part-");

}  // namespace ff::data
