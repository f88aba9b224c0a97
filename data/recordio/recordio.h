// MXNet / dmlc RecordIO container (formats.md §3.1): each record is
//   uint32 magic 0xCED7230A | uint32 lrec (cflag = bits 29-31, length = low 29 bits) |
//   data | zero padding to a 4-byte boundary.
// A payload containing the magic at a 4-byte-aligned offset is split into pieces (cflag 1 first,
// 2 middle, 3 last) with those 4 magic bytes dropped; the reader re-inserts them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/common/file_io.h"

namespace ff::data {

inline constexpr uint32_t kRecordIOMagic = 0xCED7230Au;
inline constexpr uint32_t kRecordIOMaxPieceLength = (1u << 29) - 1;

class RecordIOReader {
 public:
  explicit RecordIOReader(const std::string& rec_path);
  const std::string& path() const { return file_->path(); }
  uint64_t file_size() const { return file_->size(); }

  // Reads the logical record starting at `offset` (joining multi-part pieces) into `payload`;
  // returns the offset just past it (padding included). `index` names the record in errors,
  // which give the file, the index, the offset of the failing piece and what was wrong (bad
  // magic, bad continuation flag, truncation). Thread-safe.
  uint64_t read(uint64_t offset, int64_t index, std::vector<uint8_t>* payload) const;
  // The same, reading only the 8-byte piece headers (for indexing without an .idx file).
  uint64_t skip(uint64_t offset, int64_t index) const { return read(offset, index, nullptr); }

  // The IRHeader id (payload bytes 8..15) of the record at `offset`, reading only the header
  // when the first piece holds it; throws if the payload is shorter than an IRHeader.
  uint64_t read_image_record_id(uint64_t offset, int64_t index) const;

  // The first offset >= `from` (4-byte aligned) where a record starts: a magic followed by an
  // lrec with cflag 0 or 1 (dmlc's resync rule). Returns file_size() if there is none.
  uint64_t find_record_start(uint64_t from) const;

 private:
  std::shared_ptr<RandomAccessFile> file_;
};

// Writes a .rec and, optionally, its .idx ("key\toffset\n" per record) atomically: both appear
// under their final names on close(). Destroyed without close() (e.g. by an exception), it
// leaves nothing behind.
class RecordIOWriter {
 public:
  explicit RecordIOWriter(const std::string& rec_path, const std::string& idx_path = "");
  // Appends one logical record (split around aligned magic words as dmlc does); returns its offset.
  uint64_t write(int64_t key, const void* data, size_t size);
  uint64_t write(int64_t key, const std::string& bytes) { return write(key, bytes.data(), bytes.size()); }
  void close();
  int64_t records_written() const { return records_; }

 private:
  std::string rec_path_;
  std::unique_ptr<BufferedAtomicWriter> rec_;
  std::unique_ptr<BufferedAtomicWriter> idx_;
  int64_t records_ = 0;
};

}  // namespace ff::data
