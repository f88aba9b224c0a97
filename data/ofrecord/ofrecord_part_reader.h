// Reading one OneFlow OFRecord part file (formats.md §1.2): records framed by an int64
// little-endian length (> 0) followed by that many bytes of serialized OFRecord, no padding,
// no checksum, no magic. A clean end of file at a record boundary ends the part; an empty
// (0-byte) part is valid (OneFlow's converter writes them).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/common/bad_records.h"
#include "data/common/file_io.h"
#include "data/common/record_ref.h"

namespace ff::data {

class OFRecordPartReader {
 public:
  explicit OFRecordPartReader(const std::string& path);

  const std::string& path() const { return file_->path(); }
  uint64_t file_size() const { return file_->size(); }

  // Sequential reading: the next record body into `body`; false at a clean end of file.
  // Throws ff::Error naming the file, record index and offset on a bad length or truncation.
  bool next(std::vector<uint8_t>& body);
  // Index and byte offset (of the length prefix) of the record `next` returns next.
  int64_t next_index() const { return next_index_; }
  uint64_t next_offset() const { return next_offset_; }

  // Offsets of every record's length prefix, plus the end offset as a final entry, so record i
  // spans [offsets[i] + 8, offsets[i+1]). Reads only the 8-byte prefixes. With `skip_log`
  // (skip-and-count), a broken frame ends the index there and the unreadable tail is reported
  // once; without it, the broken frame throws.
  std::vector<uint64_t> build_index(BadRecordLog* skip_log = nullptr) const;

  // Record body at a prefix offset from build_index (thread-safe).
  std::vector<uint8_t> read_at(uint64_t prefix_offset, uint64_t end_offset, int64_t index) const;

  // The framing check shared by next() and build_index(): the body length of the record whose
  // prefix is at `offset`. Throws on a non-positive length or a truncated record.
  uint64_t frame_length(uint64_t offset, int64_t index) const;

 private:
  std::shared_ptr<RandomAccessFile> file_;
  int64_t next_index_ = 0;
  uint64_t next_offset_ = 0;
};

}  // namespace ff::data
