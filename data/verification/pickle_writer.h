// Emits pickle opcodes the way Python 2's pickler does at protocol 2 (memoize every string,
// list and tuple; append in batches of up to 1000). Used by write_verification_bin and by
// tests that need hand-built pickles (numpy-array elements, Python 3 opcodes).
#pragma once

#include <cstdint>
#include <string>

namespace ff::data {

class PickleWriter {
 public:
  const std::string& bytes() const { return out_; }

  void raw(uint8_t byte) { out_.push_back(static_cast<char>(byte)); }
  void raw(const std::string& bytes) { out_ += bytes; }

  void proto(uint8_t version);
  void stop();
  void mark();
  void empty_list();
  void append();
  void appends();
  void tuple2();
  void tuple();  // MARK ... TUPLE
  void none();
  void boolean(bool v);                        // NEWTRUE / NEWFALSE (protocol 2, not memoized)
  void int_(int64_t v);                        // BININT1 / BININT2 / BININT as Python 2 picks
  void py2_str(const std::string& bytes);      // SHORT_BINSTRING (< 256 bytes) or BINSTRING
  void py3_bytes(const std::string& bytes);    // SHORT_BINBYTES or BINBYTES
  void unicode(const std::string& utf8);       // BINUNICODE
  void global(const std::string& module, const std::string& name);  // GLOBAL "module\nname\n"
  void reduce();
  void build();
  // BINPUT (index < 256) or LONG_BINPUT with the next memo index; returns that index.
  uint32_t memoize();
  void get(uint32_t memo_index);  // BINGET / LONG_BINGET

 private:
  std::string out_;
  uint32_t next_memo_ = 0;
};

}  // namespace ff::data
