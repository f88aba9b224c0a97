#include "apps/common/train_config_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/tokenizer.h>

#include "apps/common/train_config_keys.h"

namespace ff::apps::config_detail {

namespace {

// Protobuf's tokenizer column of every character, from 0: a tab advances to the next multiple
// of 8, as in io::Tokenizer.
int column_of(const std::string& line, size_t index) {
  int column = 0;
  for (size_t i = 0; i < index && i < line.size(); ++i) column = line[i] == '\t' ? column + 8 - column % 8 : column + 1;
  return column;
}

struct Position {
  int line = 0, column = 0;  // 0-based, as protobuf reports them
};

// Some errors are reported at the token after the culprit (an unknown key at its ':', a bad
// boolean at the next line); point at the culprit instead: its last occurrence before `at`.
Position point_back(const std::vector<std::string>& lines, Position at, const std::string& culprit) {
  if (culprit.empty()) return at;
  for (int l = std::min<int>(at.line, static_cast<int>(lines.size()) - 1); l >= 0 && l >= at.line - 50; --l) {
    const std::string& line = lines[static_cast<size_t>(l)];
    size_t limit = line.size();
    if (l == at.line) {
      limit = 0;
      while (limit < line.size() && column_of(line, limit) < at.column) ++limit;
    }
    if (limit < culprit.size()) continue;
    const size_t found = line.rfind(culprit, limit - culprit.size());
    if (found != std::string::npos) return {l, column_of(line, found)};
  }
  return at;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

class LineErrorCollector final : public google::protobuf::io::ErrorCollector {
 public:
  explicit LineErrorCollector(const std::string& text) : lines_(split_lines(text)) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    static const std::regex unknown_field(R"re(Message type "([A-Za-z0-9_.]+)" has no field named "([^"]*)"\.?)re");
    static const std::regex bad_value(R"re(Value: "([^"]*)")re");
    static const std::regex twice(R"re(Non-repeated field "([^"]*)" is specified multiple times)re");
    static const std::regex unquoted(R"re(^Expected string, got: (.+)$)re");
    Position at{line, column};
    std::string what = message;
    std::smatch m;
    if (std::regex_search(message, m, unknown_field)) {
      at = point_back(lines_, at, m[2].str());
      what = explain_unknown_key(m[1].str(), m[2].str(), message);
    } else if (std::regex_search(message, m, bad_value)) {
      at = point_back(lines_, at, m[1].str());
    } else if (std::regex_search(message, m, twice)) {
      at = point_back(lines_, at, m[1].str());
      what = fmt::format("key \"{}\" is given twice in one section", m[1].str());
    } else if (std::regex_search(message, m, unquoted)) {
      what = fmt::format("{} (strings are quoted: \"{}\")", message, m[1].str());
    } else if (message == "Expected identifier, got: ") {
      what = "unexpected end of the text: a section is not closed with '}'";
    }
    // Protobuf counts from 0; editors and compilers count from 1.
    errors.push_back({at.line + 1, at.column + 1, what});
  }

  std::vector<TextError> errors;

 private:
  // Protobuf names the message type ("ff.apps.proto.OptimizerConfig"); users know sections, so
  // say which section and which keys it has.
  static std::string explain_unknown_key(const std::string& type_name, const std::string& key,
                                         const std::string& message) {
    const google::protobuf::Descriptor* type =
        google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type_name);
    if (type == nullptr) return message;
    const google::protobuf::FieldDescriptor* section = section_of(type);
    const std::string where = section ? fmt::format("section {}", section->name()) : "the top level";
    return fmt::format("unknown key \"{}\" in {} (keys there: {})", key, where, list_keys(type));
  }

  std::vector<std::string> lines_;
};

}  // namespace

std::vector<TextError> parse_text_format(const std::string& text, proto::TrainConfigProto* out,
                                         google::protobuf::TextFormat::ParseInfoTree* tree) {
  LineErrorCollector collector(text);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&collector);
  if (tree != nullptr) parser.WriteLocationsTo(tree);
  const bool ok = parser.ParseFromString(text, out);
  if (!ok && collector.errors.empty()) collector.errors.push_back({1, 1, "not a valid TrainConfigProto text"});
  return collector.errors;
}

}  // namespace ff::apps::config_detail
