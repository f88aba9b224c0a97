#include "data/recordio/recordio.h"

#include <algorithm>
#include <cstring>

#include "data/common/little_endian.h"
#include "data/common/record_ref.h"
#include "framework/common/check.h"

namespace ff::data {

namespace {
constexpr uint64_t kHeaderBytes = 8;
uint64_t align4(uint64_t n) { return (n + 3) & ~uint64_t{3}; }
const char* kCflagNames[] = {"whole record", "first piece", "middle piece", "last piece",
                             "invalid 4", "invalid 5", "invalid 6", "invalid 7"};
}  // namespace

RecordIOReader::RecordIOReader(const std::string& rec_path) : file_(std::make_shared<RandomAccessFile>(rec_path)) {}

uint64_t RecordIOReader::read(uint64_t offset, int64_t index, std::vector<uint8_t>* payload) const {
  if (payload) payload->clear();
  const RecordRef record{file_->path(), index, offset};
  uint64_t pos = offset;
  for (int piece = 0;; ++piece) {
    FF_CHECK(pos <= file_->size() && file_->size() - pos >= kHeaderBytes,
             "RecordIO {}: truncated: piece {} header at byte offset {} needs 8 bytes, the file has {}",
             record.describe(), piece, pos, file_->size());
    uint8_t header[kHeaderBytes];
    FF_CHECK(file_->read_at(pos, kHeaderBytes, header) == kHeaderBytes, "RecordIO {}: short read", record.describe());
    const uint32_t magic = load_le_u32(header);
    FF_CHECK(magic == kRecordIOMagic,
             "RecordIO {}: bad magic 0x{:08X} at byte offset {} (expected 0x{:08X}; not a .rec file, a corrupt "
             "record, or an .idx offset that does not point at a record)",
             record.describe(), magic, pos, kRecordIOMagic);
    const uint32_t lrec = load_le_u32(header + 4);
    const uint32_t cflag = lrec >> 29;
    const uint64_t length = lrec & kRecordIOMaxPieceLength;
    const bool ok_flag = piece == 0 ? (cflag == 0 || cflag == 1) : (cflag == 2 || cflag == 3);
    FF_CHECK(ok_flag, "RecordIO {}: piece {} at byte offset {} has continuation flag {} ({}), expected {}",
             record.describe(), piece, pos, cflag, kCflagNames[cflag],
             piece == 0 ? "0 or 1 (a record start)" : "2 or 3 (a continuation)");
    FF_CHECK(file_->size() - pos - kHeaderBytes >= length,
             "RecordIO {}: truncated: piece {} at byte offset {} declares {} bytes but only {} remain",
             record.describe(), piece, pos, length, file_->size() - pos - kHeaderBytes);
    if (payload) {
      if (piece > 0) {  // the writer dropped the magic word that split the payload here
        uint8_t magic_bytes[4];
        std::memcpy(magic_bytes, header, 4);
        payload->insert(payload->end(), magic_bytes, magic_bytes + 4);
      }
      const size_t old = payload->size();
      payload->resize(old + length);
      FF_CHECK(file_->read_at(pos + kHeaderBytes, length, payload->data() + old) == length,
               "RecordIO {}: short read at byte offset {}", record.describe(), pos + kHeaderBytes);
    }
    // Padding may be missing after the very last record of a file cut at a record boundary.
    pos = std::min<uint64_t>(pos + kHeaderBytes + align4(length), file_->size());
    if (cflag == 0 || cflag == 3) return pos;
  }
}

uint64_t RecordIOReader::read_image_record_id(uint64_t offset, int64_t index) const {
  constexpr uint64_t kIdEnd = 16;  // IRHeader: flag(4) label(4) id(8)
  uint8_t header[kHeaderBytes + kIdEnd];
  const size_t got = file_->read_at(offset, sizeof header, header);
  if (got == sizeof header && (load_le_u32(header + 4) & kRecordIOMaxPieceLength) >= kIdEnd) {
    return load_le_u64(header + kHeaderBytes + 8);
  }
  std::vector<uint8_t> payload;  // short first piece: join the pieces
  read(offset, index, &payload);
  FF_CHECK(payload.size() >= kIdEnd, "RecordIO {}: payload of {} bytes is too short for an image record header",
           RecordRef{file_->path(), index, offset}.describe(), payload.size());
  return load_le_u64(payload.data() + 8);
}

uint64_t RecordIOReader::find_record_start(uint64_t from) const {
  uint64_t pos = align4(from);
  constexpr size_t kChunk = size_t{1} << 20;
  std::vector<uint8_t> chunk;
  while (pos + kHeaderBytes <= file_->size()) {
    chunk.resize(std::min<uint64_t>(kChunk, file_->size() - pos));
    const size_t got = file_->read_at(pos, chunk.size(), chunk.data());
    for (size_t i = 0; i + kHeaderBytes <= got; i += 4) {
      if (load_le_u32(&chunk[i]) == kRecordIOMagic && (load_le_u32(&chunk[i + 4]) >> 29) <= 1) return pos + i;
    }
    if (got < kChunk) break;  // that was the end of the file
    pos += kChunk - kHeaderBytes;  // overlap so a header across the chunk edge is seen
  }
  return file_->size();
}

RecordIOWriter::RecordIOWriter(const std::string& rec_path, const std::string& idx_path)
    : rec_path_(rec_path), rec_(std::make_unique<BufferedAtomicWriter>(rec_path)) {
  if (!idx_path.empty()) idx_ = std::make_unique<BufferedAtomicWriter>(idx_path, size_t{1} << 16);
}

uint64_t RecordIOWriter::write(int64_t key, const void* data, size_t size) {
  FF_CHECK(rec_ != nullptr, "RecordIO writer for '{}': write after close()", rec_path_);
  FF_CHECK(size <= kRecordIOMaxPieceLength, "RecordIO writer for '{}': record {} of {} bytes exceeds 2^29 - 1",
           rec_path_, key, size);
  const uint64_t offset = rec_->bytes_written();
  const auto* bytes = static_cast<const uint8_t*>(data);
  auto write_piece = [&](uint32_t cflag, size_t begin, size_t end) {
    std::string header;
    append_le_u32(header, kRecordIOMagic);
    append_le_u32(header, (cflag << 29) | static_cast<uint32_t>(end - begin));
    rec_->write(header);
    if (end > begin) rec_->write(bytes + begin, end - begin);
  };
  // dmlc's WriteRecord: cut at every 4-byte-aligned magic word inside the payload.
  size_t piece_start = 0;
  for (size_t i = 0; i + 4 <= size; i += 4) {
    if (load_le_u32(bytes + i) == kRecordIOMagic) {
      write_piece(piece_start == 0 ? 1 : 2, piece_start, i);
      piece_start = i + 4;
    }
  }
  write_piece(piece_start == 0 ? 0 : 3, piece_start, size);
  const size_t padding = align4(size) - size;  // pieces before the last are 4-byte multiples
  if (padding) rec_->write(std::string(padding, '\0'));
  if (idx_) idx_->write(fmt::format("{}\t{}\n", key, offset));
  ++records_;
  return offset;
}

void RecordIOWriter::close() {
  if (!rec_) return;
  if (idx_) idx_->commit();
  rec_->commit();
  rec_.reset();
  idx_.reset();
}

}  // namespace ff::data
