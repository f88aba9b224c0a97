// Where a record lives, for error messages: every data error names the file, the record
// index and the byte offset (e.g. "'/d/part-00003' record 17 at byte offset 90112").
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

namespace ff::data {

struct RecordRef {
  std::string file;
  int64_t index = -1;   // record number within the file (-1: not a record-level error)
  uint64_t offset = 0;  // byte offset of the record's first byte in the file

  std::string describe() const {
    if (index < 0) return fmt::format("'{}' at byte offset {}", file, offset);
    return fmt::format("'{}' record {} at byte offset {}", file, index, offset);
  }
};

}  // namespace ff::data
