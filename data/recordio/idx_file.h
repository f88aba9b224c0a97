// MXNet .idx files (formats.md §3.2): text, one "<key>\t<byte offset>\n" line per record, in
// write order; the offset is where the record's magic word starts in the .rec file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ff::data {

struct IdxEntry {
  int64_t key = 0;
  uint64_t offset = 0;
};

// Parses the file, in file order. Throws ff::Error naming the file and line for a malformed
// line, a duplicate key, or (with rec_size > 0) an offset that cannot hold a record header in a
// .rec of rec_size bytes.
std::vector<IdxEntry> read_idx_file(const std::string& idx_path, uint64_t rec_size = 0);

}  // namespace ff::data
