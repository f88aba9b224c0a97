#include "framework/io/json.h"

#include <cerrno>
#include <cstdlib>
#include <set>

#include "framework/common/check.h"

namespace ff::json {

const char* Value::kind_name() const {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return "boolean";
    case Kind::Integer: return "integer";
    case Kind::Number: return "number";
    case Kind::String: return "string";
    case Kind::Array: return "array";
    case Kind::Object: return "object";
  }
  return "?";
}

namespace {

// Deep enough for any header, shallow enough that hostile input cannot exhaust the stack.
constexpr int kMaxDepth = 64;

// What decoding one multi-byte UTF-8 sequence found. The parser turns each failure into a message
// pointing at the offending byte; is_valid_utf8 only needs to know that it failed.
struct Utf8Sequence {
  enum class Status { kValid, kBadLeadByte, kTruncated, kBadContinuationByte, kBadCodePoint };
  Status status;
  size_t length;       // bytes in the sequence, lead byte included (kValid only)
  size_t bad_byte_at;  // offset from the lead byte of the byte at fault (kBadContinuationByte only)
};

// Decodes the sequence whose lead byte s[start] is >= 0x80, rejecting overlong forms, surrogates
// and code points above U+10FFFF.
Utf8Sequence decode_utf8_sequence(std::string_view s, size_t start) {
  using Status = Utf8Sequence::Status;
  const auto b0 = static_cast<unsigned char>(s[start]);
  size_t extra;
  unsigned cp;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    extra = 1, cp = b0 & 0x1fu;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    extra = 2, cp = b0 & 0x0fu;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    extra = 3, cp = b0 & 0x07u;
  } else {
    return {Status::kBadLeadByte, 0, 0};
  }
  for (size_t k = 1; k <= extra; ++k) {
    if (start + k >= s.size()) return {Status::kTruncated, 0, 0};
    const auto b = static_cast<unsigned char>(s[start + k]);
    if ((b & 0xc0u) != 0x80u) return {Status::kBadContinuationByte, 0, k};
    cp = (cp << 6) | (b & 0x3fu);
  }
  const unsigned min_cp = extra == 1 ? 0x80 : extra == 2 ? 0x800 : 0x10000;
  if (cp < min_cp || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return {Status::kBadCodePoint, 0, 0};
  return {Status::kValid, extra + 1, 0};
}

class Parser {
 public:
  Parser(std::string_view text, const std::string& source, size_t base) : text_(text), source_(source), base_(base) {}

  Value parse_document() {
    skip_whitespace();
    Value v = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected trailing characters after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(size_t pos, const std::string& what) const {
    FF_THROW("{}: invalid JSON at byte {}: {}", source_, base_ + pos, what);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  static std::string describe_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return fmt::format("'{}'", c);
    return fmt::format("byte 0x{:02x}", u);
  }

  void expect(char c) {
    if (at_end()) fail(fmt::format("unexpected end of input, expected '{}'", c));
    if (text_[pos_] != c) fail(fmt::format("expected '{}' but found {}", c, describe_char(text_[pos_])));
    ++pos_;
  }

  void skip_whitespace() {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  Value parse_value(int depth) {
    if (depth > kMaxDepth) fail(fmt::format("nesting deeper than {} levels", kMaxDepth));
    if (at_end()) fail("unexpected end of input, expected a value");
    const char c = text_[pos_];
    Value v;
    v.offset = base_ + pos_;
    switch (c) {
      case '{': parse_object(v, depth); break;
      case '[': parse_array(v, depth); break;
      case '"':
        v.kind = Value::Kind::String;
        v.string = parse_string();
        break;
      case 't': parse_literal("true", v, Value::Kind::Bool, true); break;
      case 'f': parse_literal("false", v, Value::Kind::Bool, false); break;
      case 'n': parse_literal("null", v, Value::Kind::Null, false); break;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          parse_number(v);
        } else {
          fail(fmt::format("unexpected {}, expected a value", describe_char(c)));
        }
    }
    return v;
  }

  void parse_literal(std::string_view word, Value& v, Value::Kind kind, bool b) {
    if (text_.substr(pos_, word.size()) != word) fail(fmt::format("invalid literal, expected '{}'", word));
    pos_ += word.size();
    v.kind = kind;
    v.boolean = b;
  }

  // The shared frame of objects and arrays: `open`, then zero or more elements separated by ','
  // up to `close`. parse_element() reads one element (leading whitespace already skipped).
  template <typename ParseElement>
  void parse_sequence(char open, char close, const char* what, ParseElement&& parse_element) {
    expect(open);
    skip_whitespace();
    if (peek() == close) {
      ++pos_;
      return;
    }
    while (true) {
      skip_whitespace();
      parse_element();
      skip_whitespace();
      if (at_end()) fail(fmt::format("unexpected end of input inside an {}", what));
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == close) {
        ++pos_;
        return;
      }
      fail(fmt::format("expected ',' or '{}' in an {} but found {}", close, what, describe_char(text_[pos_])));
    }
  }

  void parse_object(Value& v, int depth) {
    v.kind = Value::Kind::Object;
    std::set<std::string> names;
    parse_sequence('{', '}', "object", [&] {
      if (peek() != '"') {
        if (at_end()) fail("unexpected end of input inside an object");
        fail(fmt::format("expected a member name (a string) but found {}", describe_char(peek())));
      }
      const size_t name_pos = pos_;
      std::string name = parse_string();
      if (!names.insert(name).second) fail_at(name_pos, fmt::format("duplicate member name {}", quote(name)));
      skip_whitespace();
      expect(':');
      skip_whitespace();
      Value member = parse_value(depth + 1);
      v.object.emplace_back(std::move(name), std::move(member));
    });
  }

  void parse_array(Value& v, int depth) {
    v.kind = Value::Kind::Array;
    parse_sequence('[', ']', "array", [&] { v.array.push_back(parse_value(depth + 1)); });
  }

  void parse_number(Value& v) {
    const size_t start = pos_;
    bool integral = true;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      fail("invalid number: expected a digit");
    }
    if (peek() == '.') {
      integral = false;
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number: expected a digit after '.'");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number: expected a digit in the exponent");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    const std::string literal(text_.substr(start, pos_ - start));
    v.kind = Value::Kind::Number;
    v.number = std::strtod(literal.c_str(), nullptr);
    if (integral) {
      errno = 0;
      const long long i = std::strtoll(literal.c_str(), nullptr, 10);
      if (errno != ERANGE) {  // larger integers stay Kind::Number
        v.kind = Value::Kind::Integer;
        v.integer = static_cast<int64_t>(i);
      }
    }
  }

  unsigned parse_hex4() {
    unsigned code = 0;
    for (int k = 0; k < 4; ++k) {
      if (at_end()) fail("unexpected end of input in a \\u escape");
      const char c = text_[pos_++];
      code <<= 4;
      if (c >= '0' && c <= '9') {
        code |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        fail_at(pos_ - 1, fmt::format("invalid hex digit {} in a \\u escape", describe_char(c)));
      }
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  // Copies one UTF-8 encoded character starting at pos_, validating it (no overlong forms,
  // no surrogates, nothing above U+10FFFF).
  void copy_utf8_char(std::string& out) {
    using Status = Utf8Sequence::Status;
    const size_t start = pos_;
    const Utf8Sequence seq = decode_utf8_sequence(text_, start);
    switch (seq.status) {
      case Status::kValid: break;
      case Status::kBadLeadByte:
        fail_at(start, fmt::format("invalid UTF-8 lead byte 0x{:02x} in a string",
                                   static_cast<unsigned char>(text_[start])));
      case Status::kTruncated: fail_at(start, "truncated UTF-8 sequence in a string");
      case Status::kBadContinuationByte: {
        const size_t at = start + seq.bad_byte_at;
        fail_at(at, fmt::format("invalid UTF-8 continuation byte 0x{:02x}", static_cast<unsigned char>(text_[at])));
      }
      case Status::kBadCodePoint:
        fail_at(start, "invalid UTF-8 sequence (overlong, surrogate or out of range) in a string");
    }
    out.append(text_.substr(start, seq.length));
    pos_ = start + seq.length;
  }

  std::string parse_string() {
    const size_t open = pos_;
    expect('"');
    std::string out;
    while (true) {
      if (at_end()) fail_at(open, "unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail(fmt::format("unescaped control character 0x{:02x} in a string", static_cast<unsigned>(c)));
      if (static_cast<unsigned char>(c) >= 0x80) {
        copy_utf8_char(out);
        continue;
      }
      ++pos_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) fail_at(open, "unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const size_t esc = pos_ - 2;
          unsigned cp = parse_hex4();
          if (cp >= 0xdc00 && cp <= 0xdfff) fail_at(esc, "unpaired low surrogate in a \\u escape");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (text_.substr(pos_, 2) != "\\u") fail_at(esc, "high surrogate not followed by a \\u low surrogate");
            pos_ += 2;
            const unsigned low = parse_hex4();
            if (low < 0xdc00 || low > 0xdfff) fail_at(esc, "high surrogate followed by a non-low-surrogate escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail_at(pos_ - 2, fmt::format("invalid escape '\\{}'", e));
      }
    }
  }

  std::string_view text_;
  const std::string& source_;
  size_t base_;
  size_t pos_ = 0;
};

}  // namespace

Value parse(std::string_view text, const std::string& source, size_t base_offset) {
  return Parser(text, source, base_offset).parse_document();
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const Utf8Sequence seq = decode_utf8_sequence(s, i);
    if (seq.status != Utf8Sequence::Status::kValid) return false;
    i += seq.length;
  }
  return true;
}

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace ff::json
