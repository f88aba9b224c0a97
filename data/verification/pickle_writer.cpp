#include "data/verification/pickle_writer.h"

#include "data/common/little_endian.h"
#include "data/verification/pickle_opcodes.h"

namespace ff::data {

using namespace pickle_op;

void PickleWriter::proto(uint8_t version) {
  raw(kProto);
  raw(version);
}
void PickleWriter::stop() { raw(kStop); }
void PickleWriter::mark() { raw(kMark); }
void PickleWriter::empty_list() { raw(kEmptyList); }
void PickleWriter::append() { raw(kAppend); }
void PickleWriter::appends() { raw(kAppends); }
void PickleWriter::tuple2() { raw(kTuple2); }
void PickleWriter::tuple() { raw(kTuple); }
void PickleWriter::none() { raw(kNone); }
void PickleWriter::boolean(bool v) { raw(v ? kNewTrue : kNewFalse); }
void PickleWriter::reduce() { raw(kReduce); }
void PickleWriter::build() { raw(kBuild); }

void PickleWriter::int_(int64_t v) {
  if (v >= 0 && v < 256) {
    raw(kBinInt1);
    raw(static_cast<uint8_t>(v));
  } else if (v >= 0 && v < 65536) {
    raw(kBinInt2);
    raw(static_cast<uint8_t>(v & 0xFF));
    raw(static_cast<uint8_t>(v >> 8));
  } else {
    raw(kBinInt);
    append_le_u32(out_, static_cast<uint32_t>(static_cast<int32_t>(v)));
  }
}

void PickleWriter::py2_str(const std::string& bytes) {
  if (bytes.size() < 256) {
    raw(kShortBinString);
    raw(static_cast<uint8_t>(bytes.size()));
  } else {
    raw(kBinString);
    append_le_u32(out_, static_cast<uint32_t>(bytes.size()));
  }
  out_ += bytes;
}

void PickleWriter::py3_bytes(const std::string& bytes) {
  if (bytes.size() < 256) {
    raw(kShortBinBytes);
    raw(static_cast<uint8_t>(bytes.size()));
  } else {
    raw(kBinBytes);
    append_le_u32(out_, static_cast<uint32_t>(bytes.size()));
  }
  out_ += bytes;
}

void PickleWriter::unicode(const std::string& utf8) {
  raw(kBinUnicode);
  append_le_u32(out_, static_cast<uint32_t>(utf8.size()));
  out_ += utf8;
}

void PickleWriter::global(const std::string& module, const std::string& name) {
  raw(kGlobal);
  out_ += module + "\n" + name + "\n";
}

uint32_t PickleWriter::memoize() {
  const uint32_t index = next_memo_++;
  if (index < 256) {
    raw(kBinPut);
    raw(static_cast<uint8_t>(index));
  } else {
    raw(kLongBinPut);
    append_le_u32(out_, index);
  }
  return index;
}

void PickleWriter::get(uint32_t memo_index) {
  if (memo_index < 256) {
    raw(kBinGet);
    raw(static_cast<uint8_t>(memo_index));
  } else {
    raw(kLongBinGet);
    append_le_u32(out_, memo_index);
  }
}

}  // namespace ff::data
