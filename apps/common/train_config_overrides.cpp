#include "apps/common/train_config_overrides.h"

#include <fmt/format.h>

#include <utility>

#include "apps/common/train_config_text.h"
#include "framework/common/check.h"

namespace ff::apps::config_detail {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

namespace {

std::string trim(const std::string& s) {
  const char* space = " \t\r\n";
  const size_t begin = s.find_first_not_of(space);
  if (begin == std::string::npos) return {};
  return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

// arcface_torch's config names that are not simply a key unique across sections.
const std::pair<const char*, const char*> kAliases[] = {
    {"rec", "data.path"},
    {"optimizer", "optimizer.type"},
};

// The key as written -> its field path; a key without a dot may be a top-level key, an alias or
// a key name that exists in exactly one section.
FieldPath resolve_override_key(const std::string& key, const std::string& override_text) {
  std::string dotted = key;
  if (key.find('.') == std::string::npos) {
    for (const auto& [alias, target] : kAliases) {
      if (key == alias) dotted = target;
    }
    const Descriptor* top = proto::TrainConfigProto::descriptor();
    if (dotted == key && top->FindFieldByName(key) == nullptr) {
      std::vector<std::string> matches;
      for (int i = 0; i < top->field_count(); ++i) {
        const Descriptor* section = top->field(i)->message_type();
        if (section != nullptr && section->FindFieldByName(key) != nullptr) {
          matches.push_back(top->field(i)->name() + "." + key);
        }
      }
      FF_CHECK(matches.size() <= 1, "override '{}': \"{}\" is ambiguous, write one of {}", override_text, key,
               fmt::join(matches, ", "));
      if (matches.size() == 1) dotted = matches[0];
    }
  }
  std::string error;
  FieldPath path = resolve_key(dotted, &error);
  FF_CHECK(!path.empty(), "override '{}': {}", override_text, error);
  return path;
}

// A text-format string literal holding `value` exactly.
std::string quote(const std::string& value) {
  std::string out = "\"";
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\{:03o}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> items;
  if (trim(value).empty()) return items;  // "key=" clears a list
  size_t start = 0;
  while (true) {
    const size_t comma = value.find(',', start);
    items.push_back(trim(value.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) return items;
    start = comma + 1;
  }
}

// Count of fields set in `message` (repeated ones count when non-empty).
size_t fields_set(const Message& message) {
  std::vector<const FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);
  return fields.size();
}

}  // namespace

void apply_override(const std::string& override_text, proto::TrainConfigProto* config, ConfigLocator* locator) {
  const size_t eq = override_text.find('=');
  FF_CHECK(eq != std::string::npos && !trim(override_text.substr(0, eq)).empty(),
           "override '{}': expected key=value, e.g. optimizer.lr=0.05", override_text);
  const std::string key = trim(override_text.substr(0, eq));
  const std::string value = trim(override_text.substr(eq + 1));
  const FieldPath path = resolve_override_key(key, override_text);
  const FieldDescriptor* leaf = path.back();
  const std::string dotted = dotted_name(path);
  const bool is_string = leaf->cpp_type() == FieldDescriptor::CPPTYPE_STRING;

  // The override becomes a text-format snippet ("optimizer { lr: 0.05 }"), so values are checked
  // by the same parser, with the same messages, as values in a file.
  std::vector<std::string> values;
  if (leaf->is_repeated()) {
    values = split_list(value);
  } else {
    FF_CHECK(is_string || !value.empty(), "override '{}': no value for {}", override_text, dotted);
    values.push_back(value);
  }
  std::string snippet;
  for (size_t i = 0; i + 1 < path.size(); ++i) snippet += path[i]->name() + " { ";
  for (const std::string& v : values) {
    FF_CHECK(!(leaf->is_repeated() && v.empty()), "override '{}': empty item in the list for {}", override_text,
             dotted);
    snippet += fmt::format("{}: {} ", leaf->name(), is_string ? quote(v) : v);
  }
  for (size_t i = 0; i + 1 < path.size(); ++i) snippet += "} ";

  proto::TrainConfigProto parsed;
  const std::vector<TextError> errors = parse_text_format(snippet, &parsed, nullptr);
  // Positions inside the generated snippet mean nothing to the user: keep the messages only.
  std::vector<std::string> messages;
  for (const TextError& e : errors) messages.push_back(e.message);
  const char* type_name = leaf->is_repeated() ? "list" : leaf->cpp_type_name();
  FF_CHECK(errors.empty(), "override '{}': bad value for {} ({}): {}", override_text, dotted, type_name,
           fmt::join(messages, "; "));
  // A value such as "0.1 } model { network: \"r18\"" would parse and set other keys: the snippet
  // must set exactly the one key named.
  const Message* level = &parsed;
  for (size_t i = 0; i < path.size(); ++i) {
    const size_t expected = (i + 1 == path.size() && values.empty()) ? 0 : 1;
    FF_CHECK(fields_set(*level) == expected, "override '{}': the value must be one {} for {}", override_text,
             type_name, dotted);
    if (i + 1 < path.size()) level = &level->GetReflection()->GetMessage(*level, path[i]);
  }

  // Replace, not append: clear the key in the config, then merge the snippet in.
  Message* target = config;
  for (size_t i = 0; i + 1 < path.size(); ++i) target = target->GetReflection()->MutableMessage(target, path[i]);
  target->GetReflection()->ClearField(target, leaf);
  config->MergeFrom(parsed);
  locator->note_override(dotted, override_text);
}

}  // namespace ff::apps::config_detail
