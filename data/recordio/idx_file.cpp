#include "data/recordio/idx_file.h"

#include <algorithm>
#include <limits>

#include "data/common/file_io.h"
#include "framework/common/check.h"

namespace ff::data {

namespace {

// Strict decimal parse of [begin, end): optional '-' (keys only), digits, nothing else.
bool parse_integer(const char* begin, const char* end, bool allow_negative, int64_t* key, uint64_t* offset) {
  if (begin == end) return false;
  bool negative = false;
  if (*begin == '-') {
    if (!allow_negative) return false;
    negative = true;
    ++begin;
  }
  if (begin == end || end - begin > 19) return false;
  uint64_t v = 0;
  for (const char* p = begin; p < end; ++p) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + static_cast<uint64_t>(*p - '0');
  }
  if (key) {
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *key = negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  }
  if (offset) *offset = v;
  return true;
}

struct LineParser {
  const std::string& path;
  uint64_t rec_size;
  std::vector<IdxEntry>& entries;
  int64_t line_no = 0;

  void parse(const char* begin, const char* end, uint64_t line_offset) {
    ++line_no;
    if (end > begin && end[-1] == '\r') --end;  // tolerate CRLF
    if (end == begin) return;                   // blank line
    const char* tab = std::find(begin, end, '\t');
    IdxEntry e;
    const bool ok = tab < end && parse_integer(begin, tab, true, &e.key, nullptr) &&
                    parse_integer(tab + 1, end, false, nullptr, &e.offset);
    FF_CHECK(ok, "RecordIO index '{}' line {} (byte offset {}): expected '<key>\\t<offset>', got '{}'", path, line_no,
             line_offset, std::string(begin, std::min<size_t>(static_cast<size_t>(end - begin), 60)));
    FF_CHECK(rec_size == 0 || (e.offset <= rec_size && rec_size - e.offset >= 8),
             "RecordIO index '{}' line {} (byte offset {}): key {} points at byte offset {}, beyond the {}-byte .rec "
             "file (index and .rec do not match?)",
             path, line_no, line_offset, e.key, e.offset, rec_size);
    entries.push_back(e);
  }
};

void check_unique_keys(const std::string& path, const std::vector<IdxEntry>& entries) {
  // insightface writes increasing keys: then there is nothing to sort.
  bool increasing = true;
  for (size_t i = 1; i < entries.size() && increasing; ++i) increasing = entries[i - 1].key < entries[i].key;
  if (increasing) return;
  std::vector<int64_t> keys(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) keys[i] = entries[i].key;
  std::sort(keys.begin(), keys.end());
  const auto dup = std::adjacent_find(keys.begin(), keys.end());
  FF_CHECK(dup == keys.end(), "RecordIO index '{}': key {} appears more than once", path, *dup);
}

}  // namespace

std::vector<IdxEntry> read_idx_file(const std::string& idx_path, uint64_t rec_size) {
  // Streamed in chunks: a Glint360K index has ~17 M lines.
  RandomAccessFile file(idx_path);
  std::vector<IdxEntry> entries;
  LineParser parser{idx_path, rec_size, entries};
  std::vector<char> chunk(size_t{1} << 20);
  std::string carry;  // an incomplete line from the previous chunk
  uint64_t carry_offset = 0;
  uint64_t pos = 0;
  while (pos < file.size()) {
    const size_t got = file.read_at(pos, chunk.size(), chunk.data());
    if (got == 0) break;
    const char* p = chunk.data();
    const char* end = p + got;
    while (p < end) {
      const char* nl = std::find(p, end, '\n');
      const uint64_t here = pos + static_cast<uint64_t>(p - chunk.data());
      if (nl == end) {
        if (carry.empty()) carry_offset = here;
        carry.append(p, end);
        FF_CHECK(carry.size() < 4096, "RecordIO index '{}' line {} (byte offset {}): line longer than 4096 bytes "
                 "(not an .idx file?)", idx_path, parser.line_no + 1, carry_offset);
        break;
      }
      if (!carry.empty()) {
        carry.append(p, nl);
        parser.parse(carry.data(), carry.data() + carry.size(), carry_offset);
        carry.clear();
      } else {
        parser.parse(p, nl, here);
      }
      p = nl + 1;
    }
    pos += got;
  }
  if (!carry.empty()) parser.parse(carry.data(), carry.data() + carry.size(), carry_offset);  // no final newline
  check_unique_keys(idx_path, entries);
  return entries;
}

}  // namespace ff::data
