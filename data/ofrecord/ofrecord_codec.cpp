#include "data/ofrecord/ofrecord_codec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <limits>

#include "framework/common/check.h"
#include "ofrecord.pb.h"

namespace ff::data {

namespace {

const char* kind_name(const oneflow::Feature& f) {
  switch (f.kind_case()) {
    case oneflow::Feature::kBytesList: return "bytes_list";
    case oneflow::Feature::kFloatList: return "float_list";
    case oneflow::Feature::kDoubleList: return "double_list";
    case oneflow::Feature::kInt32List: return "int32_list";
    case oneflow::Feature::kInt64List: return "int64_list";
    case oneflow::Feature::KIND_NOT_SET: break;
  }
  return "no list";
}

std::string key_list(const oneflow::OFRecord& record) {
  std::string out;
  for (const auto& [key, feature] : record.feature()) {
    if (!out.empty()) out += ", ";
    out += fmt::format("'{}' ({})", key, kind_name(feature));
  }
  return out.empty() ? "none" : out;
}

const oneflow::Feature& require_key(const oneflow::OFRecord& record, const char* key, const RecordRef& where) {
  const auto it = record.feature().find(key);
  FF_CHECK(it != record.feature().end(), "OFRecord {}: missing key '{}' (keys present: {})", where.describe(), key,
           key_list(record));
  return it->second;
}

int64_t read_label(const oneflow::Feature& f, const RecordRef& where) {
  if (f.has_int32_list()) {
    FF_CHECK(f.int32_list().value_size() == 1, "OFRecord {}: key 'label' must hold exactly one int32, found {}",
             where.describe(), f.int32_list().value_size());
    return f.int32_list().value(0);
  }
  if (f.has_int64_list()) {
    FF_CHECK(f.int64_list().value_size() == 1, "OFRecord {}: key 'label' must hold exactly one int64, found {}",
             where.describe(), f.int64_list().value_size());
    const int64_t v = f.int64_list().value(0);
    FF_CHECK(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(),
             "OFRecord {}: label {} does not fit int32", where.describe(), v);
    return v;
  }
  FF_THROW("OFRecord {}: key 'label' has type {}, expected int32_list (or int64_list)", where.describe(),
           kind_name(f));
}

}  // namespace

std::string serialize_face_example(const FaceExample& example) {
  oneflow::OFRecord record;
  auto& features = *record.mutable_feature();
  features[kEncodedKey].mutable_bytes_list()->add_value(
      std::string(example.encoded_jpeg.begin(), example.encoded_jpeg.end()));
  features[kLabelKey].mutable_int32_list()->add_value(example.label);
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);  // sorted map keys
    record.SerializeToCodedStream(&coded);
  }
  return out;
}

FaceExample parse_face_example(const uint8_t* data, size_t size, const RecordRef& where, int64_t num_classes) {
  FF_CHECK(size <= static_cast<size_t>(std::numeric_limits<int>::max()),
           "OFRecord {}: record of {} bytes exceeds protobuf's 2 GiB limit", where.describe(), size);
  oneflow::OFRecord record;
  FF_CHECK(record.ParseFromArray(data, static_cast<int>(size)),
           "OFRecord {}: the {} record bytes are not a valid OFRecord protobuf (corrupt record?)", where.describe(),
           size);

  FaceExample example;
  const oneflow::Feature& encoded = require_key(record, kEncodedKey, where);
  FF_CHECK(encoded.has_bytes_list(), "OFRecord {}: key 'encoded' has type {}, expected bytes_list", where.describe(),
           kind_name(encoded));
  FF_CHECK(encoded.bytes_list().value_size() == 1,
           "OFRecord {}: key 'encoded' must hold exactly one image, found {} values", where.describe(),
           encoded.bytes_list().value_size());
  const std::string& image = encoded.bytes_list().value(0);
  FF_CHECK(!image.empty(), "OFRecord {}: key 'encoded' holds an empty image", where.describe());
  example.encoded_jpeg.assign(image.begin(), image.end());

  const int64_t label = read_label(require_key(record, kLabelKey, where), where);
  FF_CHECK(label >= 0, "OFRecord {}: label {} is negative", where.describe(), label);
  FF_CHECK(num_classes <= 0 || label < num_classes, "OFRecord {}: label {} is out of range [0, {})", where.describe(),
           label, num_classes);
  example.label = static_cast<int32_t>(label);
  return example;
}

std::string ofrecord_part_name(int64_t index, int suffix_length, const std::string& prefix) {
  std::string digits = std::to_string(index);
  if (static_cast<int>(digits.size()) < suffix_length) digits.insert(0, suffix_length - digits.size(), '0');
  return prefix + digits;
}

}  // namespace ff::data
