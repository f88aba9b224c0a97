#include "data/ofrecord/ofrecord_part_reader.h"

#include "data/common/little_endian.h"
#include "framework/common/check.h"

namespace ff::data {

namespace {
constexpr uint64_t kPrefixBytes = 8;
}  // namespace

OFRecordPartReader::OFRecordPartReader(const std::string& path) : file_(std::make_shared<RandomAccessFile>(path)) {}

uint64_t OFRecordPartReader::frame_length(uint64_t offset, int64_t index) const {
  const RecordRef where{file_->path(), index, offset};
  const uint64_t remaining = file_->size() - offset;
  FF_CHECK(remaining >= kPrefixBytes,
           "OFRecord part {}: truncated length prefix ({} of 8 bytes before the end of the {}-byte file)",
           where.describe(), remaining, file_->size());
  uint8_t prefix[kPrefixBytes];
  FF_CHECK(file_->read_at(offset, kPrefixBytes, prefix) == kPrefixBytes, "OFRecord part {}: short read",
           where.describe());
  const int64_t length = load_le_i64(prefix);
  FF_CHECK(length > 0, "OFRecord part {}: length prefix {} is not positive (not an OFRecord part, or corrupt)",
           where.describe(), length);
  FF_CHECK(static_cast<uint64_t>(length) <= remaining - kPrefixBytes,
           "OFRecord part {}: length prefix says {} bytes but only {} remain (truncated part?)", where.describe(),
           length, remaining - kPrefixBytes);
  return static_cast<uint64_t>(length);
}

bool OFRecordPartReader::next(std::vector<uint8_t>& body) {
  if (next_offset_ == file_->size()) return false;
  const uint64_t length = frame_length(next_offset_, next_index_);
  body = read_at(next_offset_, next_offset_ + kPrefixBytes + length, next_index_);
  next_offset_ += kPrefixBytes + length;
  ++next_index_;
  return true;
}

std::vector<uint64_t> OFRecordPartReader::build_index(BadRecordLog* skip_log) const {
  std::vector<uint64_t> offsets;
  uint64_t offset = 0;
  while (offset < file_->size()) {
    const int64_t index = static_cast<int64_t>(offsets.size());
    uint64_t length = 0;
    try {
      length = frame_length(offset, index);
    } catch (const Error& e) {
      if (!skip_log) throw;
      // Without a magic number there is no way to find the next record: the tail is lost.
      skip_log->report(fmt::format("{} [skipped the last {} bytes of the part]", e.what(), file_->size() - offset));
      break;
    }
    offsets.push_back(offset);
    offset += kPrefixBytes + length;
  }
  offsets.push_back(offset);
  return offsets;
}

std::vector<uint8_t> OFRecordPartReader::read_at(uint64_t prefix_offset, uint64_t end_offset, int64_t index) const {
  FF_ASSERT(end_offset >= prefix_offset + kPrefixBytes && end_offset <= file_->size(), "bad OFRecord span");
  std::vector<uint8_t> body(end_offset - prefix_offset - kPrefixBytes);
  const size_t got = file_->read_at(prefix_offset + kPrefixBytes, body.size(), body.data());
  FF_CHECK(got == body.size(), "OFRecord part {}: read {} of {} bytes (file shrank while reading?)",
           RecordRef{file_->path(), index, prefix_offset}.describe(), got, body.size());
  return body;
}

}  // namespace ff::data
