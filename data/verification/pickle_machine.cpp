#include "data/verification/pickle_machine.h"

#include <limits>

#include "data/common/little_endian.h"
#include "data/verification/pickle_opcodes.h"
#include "framework/common/check.h"

namespace ff::data {

using namespace pickle_op;
using Kind = PickleObject::Kind;

const char* pickle_op::opcode_name(uint8_t op) {
  switch (op) {
    case kMark: return "MARK";
    case kStop: return "STOP";
    case kPop: return "POP";
    case kInt: return "INT";
    case kBinInt: return "BININT";
    case kBinInt1: return "BININT1";
    case kBinInt2: return "BININT2";
    case kNone: return "NONE";
    case kReduce: return "REDUCE";
    case kBinString: return "BINSTRING";
    case kShortBinString: return "SHORT_BINSTRING";
    case kBinUnicode: return "BINUNICODE";
    case kAppend: return "APPEND";
    case kBuild: return "BUILD";
    case kGlobal: return "GLOBAL";
    case kAppends: return "APPENDS";
    case kBinGet: return "BINGET";
    case kLongBinGet: return "LONG_BINGET";
    case kEmptyList: return "EMPTY_LIST";
    case kBinPut: return "BINPUT";
    case kLongBinPut: return "LONG_BINPUT";
    case kTuple: return "TUPLE";
    case kEmptyTuple: return "EMPTY_TUPLE";
    case kBinBytes: return "BINBYTES";
    case kShortBinBytes: return "SHORT_BINBYTES";
    case kProto: return "PROTO";
    case kLong1: return "LONG1";
    case kTuple1: return "TUPLE1";
    case kTuple2: return "TUPLE2";
    case kTuple3: return "TUPLE3";
    case kNewTrue: return "NEWTRUE";
    case kNewFalse: return "NEWFALSE";
    case kShortBinUnicode: return "SHORT_BINUNICODE";
    case kBinUnicode8: return "BINUNICODE8";
    case kBinBytes8: return "BINBYTES8";
    case kStackGlobal: return "STACK_GLOBAL";
    case kMemoize: return "MEMOIZE";
    case kFrame: return "FRAME";
    case kByteArray8: return "BYTEARRAY8";
    default: return "unknown";
  }
}

const char* pickle_kind_name(Kind kind) {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Bytes: return "bytes";
    case Kind::Unicode: return "unicode string";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Global: return "global name";
    case Kind::Reduce: return "reconstructed object";
  }
  return "?";
}

PickleMachine::PickleMachine(const uint8_t* data, size_t size, std::string file)
    : data_(data), size_(size), file_(std::move(file)) {}

void PickleMachine::fail(const std::string& what) const {
  FF_THROW("pickle '{}' at byte offset {}, opcode 0x{:02X} ({}): {}", file_, op_offset_, op_,
           opcode_name(op_), what);
}

const uint8_t* PickleMachine::take(size_t n, const char* what) {
  if (n > size_ - pos_) {
    fail(fmt::format("truncated: {} needs {} bytes but only {} remain in the {}-byte file", what, n, size_ - pos_,
                     size_));
  }
  const uint8_t* p = data_ + pos_;
  pos_ += n;
  return p;
}

uint64_t PickleMachine::take_uint(size_t n, const char* what) {
  const uint8_t* p = take(n, what);
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

uint32_t PickleMachine::make(PickleObject obj) {
  // Real .bin files hold a few hundred thousand objects at most (numpy elements take ~15 each);
  // the cap bounds memory for a hostile file of millions of one-byte opcodes.
  if (objects_.size() >= kMaxObjects) {
    fail(fmt::format("more than {} objects: not a validation .bin file", kMaxObjects));
  }
  obj.offset = op_offset_;
  objects_.push_back(std::move(obj));
  return static_cast<uint32_t>(objects_.size() - 1);
}

uint32_t PickleMachine::pop(const char* why) {
  const size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) fail(fmt::format("stack underflow: {} needs a value on the stack", why));
  const uint32_t id = stack_.back();
  stack_.pop_back();
  return id;
}

uint32_t PickleMachine::top(const char* why) const {
  const size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) fail(fmt::format("stack underflow: {} needs a value on the stack", why));
  return stack_.back();
}

size_t PickleMachine::pop_mark() {
  if (marks_.empty()) fail("no MARK on the stack");
  const size_t height = marks_.back();
  marks_.pop_back();
  return height;
}

void PickleMachine::push_string(Kind kind, size_t length, const char* what) {
  PickleObject obj;
  obj.kind = kind;
  obj.data = take(length, what);
  obj.size = length;
  if (trace_) note_ = fmt::format("{} bytes", length);
  push(make(std::move(obj)));
}

void PickleMachine::push_tuple_from(size_t first) {
  PickleObject obj;
  obj.kind = Kind::Tuple;
  obj.items.assign(stack_.begin() + static_cast<std::ptrdiff_t>(first), stack_.end());
  stack_.resize(first);
  push(make(std::move(obj)));
}

void PickleMachine::put_memo(uint64_t index) {
  memo_[index] = top("storing into the memo");
  if (trace_) note_ = fmt::format("memo[{}]", index);
}

void PickleMachine::get_memo(uint64_t index) {
  const auto it = memo_.find(index);
  if (it == memo_.end()) fail(fmt::format("memo index {} was never stored", index));
  push(it->second);
  if (trace_) note_ = fmt::format("memo[{}]", index);
}

// Protocol 0/1 INT: decimal text up to a newline; "01"/"00" are Python 2's True/False.
void PickleMachine::read_text_int() {
  const size_t start = pos_;
  while (pos_ < size_ && data_[pos_] != '\n') ++pos_;
  if (pos_ >= size_) fail("truncated: INT text has no terminating newline");
  const std::string text(reinterpret_cast<const char*>(data_ + start), pos_ - start);
  ++pos_;
  PickleObject obj;
  if (text == "01" || text == "00") {
    obj.kind = Kind::Bool;
    obj.int_value = text == "01";
  } else {
    obj.kind = Kind::Int;
    size_t used = 0;
    try {
      obj.int_value = std::stoll(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size()) fail(fmt::format("INT text '{}' is not a 64-bit integer", text));
  }
  push(make(std::move(obj)));
}

namespace {
// Python 3 pickles bytes at protocol <= 2 as _codecs.encode(<unicode>, 'latin1'): the
// unicode string's code points are the byte values. Returns false if any is > 0xFF.
bool utf8_latin1_to_bytes(const uint8_t* p, size_t n, std::string& out) {
  out.clear();
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (p[i] < 0x80) {
      out.push_back(static_cast<char>(p[i]));
    } else if ((p[i] == 0xC2 || p[i] == 0xC3) && i + 1 < n && (p[i + 1] & 0xC0) == 0x80) {
      out.push_back(static_cast<char>(((p[i] & 0x03) << 6) | (p[i + 1] & 0x3F)));
      ++i;
    } else {
      return false;
    }
  }
  return true;
}
}  // namespace

void PickleMachine::reduce() {
  const uint32_t args = pop("REDUCE (arguments)");
  const uint32_t callable = pop("REDUCE (callable)");
  if (objects_[args].kind != Kind::Tuple) {
    fail(fmt::format("REDUCE arguments are a {}, expected a tuple", pickle_kind_name(objects_[args].kind)));
  }
  if (objects_[callable].kind != Kind::Global) {
    fail(fmt::format("REDUCE callable is a {}, expected a global name", pickle_kind_name(objects_[callable].kind)));
  }
  const PickleObject& fn = objects_[callable];
  if (fn.module == "_codecs" && fn.name == "encode") {
    const auto& items = objects_[args].items;
    if (items.size() != 2 || objects_[items[0]].kind != Kind::Unicode) {
      fail("_codecs.encode expects (unicode string, encoding)");
    }
    const PickleObject& text = objects_[items[0]];
    const std::string encoding = objects_[items[1]].text();
    if (encoding != "latin1" && encoding != "latin-1") fail(fmt::format("_codecs.encode with encoding '{}'", encoding));
    PickleObject bytes;
    bytes.kind = Kind::Bytes;
    if (!utf8_latin1_to_bytes(text.bytes(), text.size, bytes.owned)) fail("_codecs.encode text is not latin-1");
    bytes.size = bytes.owned.size();
    push(make(std::move(bytes)));
    return;
  }
  PickleObject obj;
  obj.kind = Kind::Reduce;
  obj.items = {callable, args};
  if (trace_) note_ = fmt::format("{}.{}", fn.module, fn.name);
  push(make(std::move(obj)));
}

uint32_t PickleMachine::run() {
  while (!stopped_) {
    if (pos_ >= size_) {
      op_offset_ = pos_;
      op_ = 0;
      FF_THROW("pickle '{}' at byte offset {}: truncated, the file ends before the STOP opcode", file_, pos_);
    }
    op_offset_ = pos_;
    op_ = data_[pos_++];
    note_.clear();
    step(op_);
    if (trace_) trace_(op_offset_, op_, note_.empty() ? fmt::format("stack {}", stack_.size()) : note_);
  }
  return pop("STOP");
}

void PickleMachine::step(uint8_t op) {
  switch (op) {
    case kProto: {
      const uint8_t version = *take(1, "PROTO version");
      if (version > 5) fail(fmt::format("unsupported pickle protocol {}", version));
      if (trace_) note_ = fmt::format("protocol {}", version);
      return;
    }
    case kFrame: take(8, "FRAME length"); return;  // framing is transparent to a whole-buffer reader
    case kStop: stopped_ = true; return;
    case kMark: marks_.push_back(stack_.size()); return;
    case kPop: pop("POP"); return;
    case kNone:
    case kNewTrue:
    case kNewFalse: {
      // Immutable: one shared object each, however many the file holds.
      int64_t& shared = op == kNone ? none_id_ : op == kNewTrue ? true_id_ : false_id_;
      if (shared < 0) {
        PickleObject obj;
        obj.kind = op == kNone ? Kind::None : Kind::Bool;
        obj.int_value = op == kNewTrue;
        shared = make(std::move(obj));
      }
      push(static_cast<uint32_t>(shared));
      return;
    }
    case kInt: read_text_int(); return;
    case kBinInt1:
    case kBinInt2:
    case kBinInt:
    case kLong1: {
      PickleObject obj;
      obj.kind = Kind::Int;
      if (op == kBinInt1) obj.int_value = static_cast<int64_t>(take_uint(1, "BININT1 value"));
      if (op == kBinInt2) obj.int_value = static_cast<int64_t>(take_uint(2, "BININT2 value"));
      if (op == kBinInt) obj.int_value = static_cast<int32_t>(take_uint(4, "BININT value"));
      if (op == kLong1) {
        const size_t n = *take(1, "LONG1 length");
        if (n > 8) fail(fmt::format("LONG1 integer of {} bytes is too large", n));
        const uint64_t raw = n == 0 ? 0 : take_uint(n, "LONG1 value");
        const bool negative = n > 0 && (raw >> (8 * n - 1)) & 1;
        obj.int_value = static_cast<int64_t>(negative && n < 8 ? raw | (~uint64_t{0} << (8 * n)) : raw);
      }
      push(make(std::move(obj)));
      return;
    }
    case kShortBinString: push_string(Kind::Bytes, take_uint(1, "SHORT_BINSTRING length"), "SHORT_BINSTRING data"); return;
    case kShortBinBytes: push_string(Kind::Bytes, take_uint(1, "SHORT_BINBYTES length"), "SHORT_BINBYTES data"); return;
    case kShortBinUnicode: push_string(Kind::Unicode, take_uint(1, "SHORT_BINUNICODE length"), "SHORT_BINUNICODE data"); return;
    case kBinString: {
      const int32_t n = static_cast<int32_t>(take_uint(4, "BINSTRING length"));  // signed in the format
      if (n < 0) fail(fmt::format("BINSTRING has negative length {}", n));
      push_string(Kind::Bytes, static_cast<size_t>(n), "BINSTRING data");
      return;
    }
    case kBinBytes: push_string(Kind::Bytes, take_uint(4, "BINBYTES length"), "BINBYTES data"); return;
    case kBinUnicode: push_string(Kind::Unicode, take_uint(4, "BINUNICODE length"), "BINUNICODE data"); return;
    case kBinBytes8:
    case kByteArray8:  // a bytearray is bytes to every caller here
    case kBinUnicode8: {
      const uint64_t n = take_uint(8, "length");
      if (n > size_) fail(fmt::format("length {} exceeds the file size {}", n, size_));
      push_string(op == kBinUnicode8 ? Kind::Unicode : Kind::Bytes, static_cast<size_t>(n), "data");
      return;
    }
    case kEmptyList: {
      PickleObject obj;
      obj.kind = Kind::List;
      push(make(std::move(obj)));
      return;
    }
    case kEmptyTuple: push_tuple_from(stack_.size()); return;
    case kTuple1:
    case kTuple2:
    case kTuple3: {
      const size_t n = op - kTuple1 + 1;
      const size_t floor = marks_.empty() ? 0 : marks_.back();
      if (stack_.size() < floor + n) fail(fmt::format("stack underflow: TUPLE{} needs {} values", n, n));
      push_tuple_from(stack_.size() - n);
      return;
    }
    case kTuple: push_tuple_from(pop_mark()); return;
    case kAppend: {
      const uint32_t item = pop("APPEND (item)");
      const uint32_t list = top("APPEND (list)");
      if (objects_[list].kind != Kind::List) {
        fail(fmt::format("APPEND target is a {}, expected a list", pickle_kind_name(objects_[list].kind)));
      }
      objects_[list].items.push_back(item);
      return;
    }
    case kAppends: {
      const size_t first = pop_mark();
      if (first == 0 || first <= (marks_.empty() ? 0 : marks_.back())) fail("APPENDS has no list below its MARK");
      PickleObject& list = objects_[stack_[first - 1]];
      if (list.kind != Kind::List) fail(fmt::format("APPENDS target is a {}, expected a list", pickle_kind_name(list.kind)));
      list.items.insert(list.items.end(), stack_.begin() + static_cast<std::ptrdiff_t>(first), stack_.end());
      if (trace_) note_ = fmt::format("{} items", stack_.size() - first);
      stack_.resize(first);
      return;
    }
    case kBinPut: put_memo(take_uint(1, "BINPUT index")); return;
    case kLongBinPut: put_memo(take_uint(4, "LONG_BINPUT index")); return;
    case kMemoize: put_memo(memo_.size()); return;
    case kBinGet: get_memo(take_uint(1, "BINGET index")); return;
    case kLongBinGet: get_memo(take_uint(4, "LONG_BINGET index")); return;
    case kGlobal: {
      PickleObject obj;
      obj.kind = Kind::Global;
      for (std::string* part : {&obj.module, &obj.name}) {
        const size_t start = pos_;
        while (pos_ < size_ && data_[pos_] != '\n' && pos_ - start < 256) ++pos_;
        if (pos_ >= size_ || data_[pos_] != '\n') fail("GLOBAL name is truncated or longer than 256 bytes");
        part->assign(reinterpret_cast<const char*>(data_ + start), pos_ - start);
        ++pos_;
      }
      if (trace_) note_ = obj.module + "." + obj.name;
      push(make(std::move(obj)));
      return;
    }
    case kStackGlobal: {
      const uint32_t name = pop("STACK_GLOBAL (name)");
      const uint32_t module = pop("STACK_GLOBAL (module)");
      for (uint32_t id : {name, module}) {
        if (objects_[id].kind != Kind::Unicode && objects_[id].kind != Kind::Bytes) {
          fail(fmt::format("STACK_GLOBAL operand is a {}, expected a string", pickle_kind_name(objects_[id].kind)));
        }
      }
      PickleObject obj;
      obj.kind = Kind::Global;
      obj.module = objects_[module].text();
      obj.name = objects_[name].text();
      if (trace_) note_ = obj.module + "." + obj.name;
      push(make(std::move(obj)));
      return;
    }
    case kReduce: reduce(); return;
    case kBuild: {
      const uint32_t state = pop("BUILD (state)");
      const uint32_t target = top("BUILD (object)");
      if (objects_[target].kind != Kind::Reduce) {
        fail(fmt::format("BUILD target is a {}, expected a reconstructed object", pickle_kind_name(objects_[target].kind)));
      }
      objects_[target].state = state;
      return;
    }
    default:
      fail("unsupported opcode (FaceFlow reads the subset insightface's .bin files use; see docs/formats.md)");
  }
}

}  // namespace ff::data
