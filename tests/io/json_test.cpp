// The JSON reader used for safetensors headers: the grammar, escapes, UTF-8, duplicate names
// and error offsets.
#include "framework/io/json.h"

#include <gtest/gtest.h>

#include "tests/io/io_test_util.h"

namespace ff {
namespace {

json::Value parse(const std::string& text) { return json::parse(text, "test"); }

TEST(Json, ParsesTheGrammar) {
  const json::Value v = parse(R"( {"a": [1, -2, 3.5, 1e3, true, false, null], "b": {"c": "d"}, "e": []} )");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.object.size(), 3u);
  EXPECT_EQ(v.object[0].first, "a");
  const auto& a = v.object[0].second.array;
  ASSERT_EQ(a.size(), 7u);
  EXPECT_TRUE(a[0].is_integer());
  EXPECT_EQ(a[0].integer, 1);
  EXPECT_EQ(a[1].integer, -2);
  EXPECT_EQ(a[2].kind, json::Value::Kind::Number);
  EXPECT_DOUBLE_EQ(a[2].number, 3.5);
  EXPECT_EQ(a[3].kind, json::Value::Kind::Number);  // an exponent makes it a number
  EXPECT_DOUBLE_EQ(a[3].number, 1000.0);
  EXPECT_EQ(a[4].kind, json::Value::Kind::Bool);
  EXPECT_TRUE(a[4].boolean);
  EXPECT_EQ(a[6].kind, json::Value::Kind::Null);
  EXPECT_EQ(v.object[1].second.object[0].second.string, "d");
  EXPECT_TRUE(v.object[2].second.array.empty());
}

TEST(Json, LargeIntegersStayExact) {
  EXPECT_EQ(parse("9007199254740993").integer, 9007199254740993LL);  // not representable as a double
  EXPECT_EQ(parse("9223372036854775807").integer, INT64_MAX);
  EXPECT_EQ(parse("9223372036854775808").kind, json::Value::Kind::Number);  // beyond int64
}

TEST(Json, StringEscapesAndUtf8) {
  EXPECT_EQ(parse(R"("q\"b\\s\/n\nt\tr\rb\bf\f")").string, "q\"b\\s/n\nt\tr\rb\bf\f");
  EXPECT_EQ(parse(R"("\u00e9\u4e2d")").string, "\xc3\xa9\xe4\xb8\xad");    // é 中
  EXPECT_EQ(parse(R"("\ud83d\ude00")").string, "\xf0\x9f\x98\x80");         // 😀 from a surrogate pair
  EXPECT_EQ(parse("\"raw \xc3\xa9\"").string, "raw \xc3\xa9");              // UTF-8 passes through
  for (const std::string& s : {std::string("a\"b\\c\n\x01"), std::string("\xe4\xb8\xad")}) {
    EXPECT_EQ(parse(json::quote(s)).string, s);  // quote() round trips
  }
  EXPECT_TRUE(json::is_valid_utf8("ok \xc3\xa9"));
  EXPECT_FALSE(json::is_valid_utf8("\xc3"));
  EXPECT_FALSE(json::is_valid_utf8("\xed\xa0\x80"));  // an encoded surrogate
}

TEST(Json, ErrorsNameTheByteOffset) {
  EXPECT_FF_ERROR(parse(R"({"a" 1})"), "test: invalid JSON at byte 5", "expected ':'");
  EXPECT_FF_ERROR(parse(R"({"a": 1,})"), "at byte 8", "member name");
  EXPECT_FF_ERROR(parse(R"({"a": 1, "a": 2})"), "at byte 9", "duplicate member name \"a\"");
  EXPECT_FF_ERROR(parse(R"({"a": [1, 2})"), "at byte 11", "expected ',' or ']' in an array but found '}'");
  EXPECT_FF_ERROR(parse(R"({"a": 1 "b": 2})"), "at byte 8", "expected ',' or '}' in an object but found '\"'");
  EXPECT_FF_ERROR(parse(R"({"a": 1)"), "unexpected end of input inside an object");
  EXPECT_FF_ERROR(parse(R"([1, 2)"), "unexpected end of input inside an array");
  EXPECT_FF_ERROR(parse(R"({)"), "unexpected end of input inside an object");
  EXPECT_EQ(parse(" { } ").object.size(), 0u);
  EXPECT_EQ(parse("[ ]").array.size(), 0u);
  EXPECT_EQ(parse(R"([ [ ] , { } ])").array.size(), 2u);
  EXPECT_FF_ERROR(parse(R"({"a": "unterminated)"), "at byte 6", "unterminated string");
  EXPECT_FF_ERROR(parse(R"("\x")"), "invalid escape");
  EXPECT_FF_ERROR(parse(R"("\ud800")"), "surrogate");
  EXPECT_FF_ERROR(parse("\"a\nb\""), "control character");
  EXPECT_FF_ERROR(parse("\"\xff\""), "UTF-8");
  EXPECT_FF_ERROR(parse("\"\xc0\xaf\""), "UTF-8");  // overlong '/'
  EXPECT_FF_ERROR(parse("01"), "trailing");
  EXPECT_FF_ERROR(parse("-"), "digit");
  EXPECT_FF_ERROR(parse("1."), "digit after '.'");
  EXPECT_FF_ERROR(parse("tru"), "literal");
  EXPECT_FF_ERROR(parse(""), "end of input");
  EXPECT_FF_ERROR(parse("{} {}"), "trailing");
  EXPECT_FF_ERROR(parse(std::string(100, '[') + std::string(100, ']')), "nesting");
  EXPECT_FF_ERROR(json::parse("{", "hdr", 8), "hdr: invalid JSON at byte 9");  // offsets shifted by the base
}

}  // namespace
}  // namespace ff
