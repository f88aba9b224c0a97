// A small, strict JSON reader and string quoting for file headers (safetensors).
//
// The parser accepts RFC 8259 JSON: objects, arrays, strings (all escapes, \uXXXX with
// surrogate pairs, UTF-8 validated), numbers, true/false/null, with a nesting limit. Numbers
// without fraction or exponent that fit in int64 are kept exactly as integers. Objects keep
// their members in file order, and a duplicate member name is an error. Every error names
// the source and the byte offset where the problem is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ff::json {

struct Value {
  enum class Kind { Null, Bool, Integer, Number, String, Array, Object };

  Kind kind = Kind::Null;
  bool boolean = false;
  int64_t integer = 0;  // Kind::Integer
  double number = 0.0;  // Kind::Number (and Integer, converted)
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;  // members in file order, names unique
  size_t offset = 0;                                  // byte offset of the value in the text

  bool is_object() const { return kind == Kind::Object; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_string() const { return kind == Kind::String; }
  bool is_integer() const { return kind == Kind::Integer; }
  const char* kind_name() const;  // "object", "integer", ... for error messages
};

// Parses `text` (the whole of it, surrounding whitespace allowed). Throws ff::Error:
//   "<source>: invalid JSON at byte <offset>: <what>"
// where offset counts from the start of `text` plus `base_offset` (so a header embedded in a
// file can report file offsets).
Value parse(std::string_view text, const std::string& source, size_t base_offset = 0);

// `s` as a JSON string literal with quotes. Escapes '"', '\\' and control characters; other
// bytes (UTF-8) pass through unchanged.
std::string quote(std::string_view s);

// Whether `s` is well-formed UTF-8 (what parse() accepts inside strings). Writers check names
// with it so that everything they write parses back.
bool is_valid_utf8(std::string_view s);

}  // namespace ff::json
