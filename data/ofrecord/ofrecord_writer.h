// Writing OneFlow OFRecord part files (shared/reference/formats.md §1).
//
// CONTRACT for the data pipeline (implemented in data/ofrecord/): the synthetic-identity
// generator and apps/convert_dataset write datasets through this API.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ff::data {

// One training example as insightface's OneFlow port stores it: JPEG bytes under key
// "encoded" (bytes_list) and the identity under key "label" (int32_list).
struct FaceExample {
  std::vector<uint8_t> encoded_jpeg;
  int32_t label = 0;
};

// Appends framed records (int64 little-endian length + serialized OFRecord) to one part file.
// Writes atomically: to a temporary file beside `path` ("<path>.tmp.<pid>"), renamed on close().
// A writer destroyed while an exception unwinds discards its temporary file. Errors name the file.
class OFRecordWriter {
 public:
  explicit OFRecordWriter(const std::string& path);
  ~OFRecordWriter();  // closes if still open (errors on close from the destructor are logged, not thrown)
  OFRecordWriter(const OFRecordWriter&) = delete;
  OFRecordWriter& operator=(const OFRecordWriter&) = delete;

  void write(const FaceExample& example);
  void close();
  int64_t records_written() const;

 private:
  struct Impl;
  Impl* impl_;
};

// Writes `examples` into `num_parts` files <dir>/part-00000 ... (balanced, in order), creating
// `dir`. Returns the part paths.
std::vector<std::string> write_ofrecord_parts(const std::string& dir, const std::vector<FaceExample>& examples,
                                              int num_parts);

}  // namespace ff::data
