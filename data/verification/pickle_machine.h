// A small, bounds-checked pickle virtual machine for the opcode subset of formats.md §2.4:
// enough to load insightface's validation .bin files (Python 2 protocol 2 with str elements,
// numpy uint8 arrays as produced by cv2.imencode, and Python 3 re-saves up to protocol 5).
//
// Nothing is executed: GLOBAL/STACK_GLOBAL yield a symbolic name, REDUCE a symbolic call and
// BUILD attaches state to it; the caller interprets the few shapes it expects. Every object
// lives in one arena (no reference cycles, no recursive destruction), byte strings point into
// the caller's buffer (no copies), and every read is checked against the end of the buffer,
// so any input either loads or throws ff::Error naming the file, the byte offset and the opcode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace ff::data {

struct PickleObject {
  enum class Kind { None, Bool, Int, Bytes, Unicode, Tuple, List, Global, Reduce };
  Kind kind = Kind::None;
  uint64_t offset = 0;       // byte offset of the opcode that made it (for messages)
  int64_t int_value = 0;     // Bool (0/1), Int
  // Bytes / Unicode (UTF-8) content: a span of the input buffer, or `owned` when the bytes were
  // decoded from _codecs.encode(u, 'latin1') (then data is null; use bytes()).
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::string owned;
  std::vector<uint32_t> items;  // Tuple / List elements; Reduce: {callable, args}
  std::string module, name;     // Global
  int64_t state = -1;           // Reduce: object id of its BUILD state, -1 if none

  const uint8_t* bytes() const { return data ? data : reinterpret_cast<const uint8_t*>(owned.data()); }
  std::string text() const { return std::string(reinterpret_cast<const char*>(bytes()), size); }
};

const char* pickle_kind_name(PickleObject::Kind kind);

class PickleMachine {
 public:
  // Loading fails beyond this many distinct objects (real .bin files hold < 1 M).
  static constexpr size_t kMaxObjects = size_t{4} << 20;

  // `file` names the input in error messages. The buffer must outlive the machine.
  PickleMachine(const uint8_t* data, size_t size, std::string file);

  // Runs to STOP; returns the id of the loaded object. Throws ff::Error on malformed input.
  uint32_t run();

  const PickleObject& object(uint32_t id) const { return objects_.at(id); }
  const std::string& file() const { return file_; }

  // Called after each opcode with its offset, name and a short note (lengths, memo indices,
  // stack depth): the engine of `convert_dataset dump-pickle`.
  void set_trace(std::function<void(uint64_t offset, uint8_t opcode, const std::string& note)> trace) {
    trace_ = std::move(trace);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const;
  const uint8_t* take(size_t n, const char* what);
  uint64_t take_uint(size_t n, const char* what);
  uint32_t make(PickleObject obj);
  void push(uint32_t id) { stack_.push_back(id); }
  uint32_t pop(const char* why);
  uint32_t top(const char* why) const;
  size_t pop_mark();
  void push_string(PickleObject::Kind kind, size_t length, const char* what);
  void push_tuple_from(size_t first);
  void put_memo(uint64_t index);
  void get_memo(uint64_t index);
  void read_text_int();
  void reduce();
  void step(uint8_t op);

  const uint8_t* data_;
  size_t size_;
  std::string file_;
  size_t pos_ = 0;
  uint64_t op_offset_ = 0;
  uint8_t op_ = 0;
  std::string note_;
  std::vector<PickleObject> objects_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;  // stack heights at each MARK
  std::unordered_map<uint64_t, uint32_t> memo_;  // memo index -> object id
  std::function<void(uint64_t, uint8_t, const std::string&)> trace_;
  bool stopped_ = false;
  int64_t none_id_ = -1, true_id_ = -1, false_id_ = -1;  // shared immutable objects
};

}  // namespace ff::data
