#include "apps/common/train_config_keys.h"

#include <fmt/format.h>

#include <algorithm>

#include "framework/common/check.h"
#include "train_config.pb.h"

namespace ff::apps::config_detail {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::TextFormat;

namespace {

std::vector<std::string> split_dots(const std::string& dotted) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = dotted.find('.', start);
    parts.push_back(dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::string section_label(const FieldPath& path) {
  return path.empty() ? std::string("the top level") : fmt::format("section {}", dotted_name(path));
}

}  // namespace

FieldPath resolve_key(const std::string& dotted, std::string* error) {
  FF_ASSERT(error != nullptr, "resolve_key needs an error sink");
  const Descriptor* type = proto::TrainConfigProto::descriptor();
  FieldPath path;
  const std::vector<std::string> parts = split_dots(dotted);
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* field = type->FindFieldByName(parts[i]);
    if (field == nullptr) {
      *error = fmt::format("unknown key \"{}\" in {} (keys there: {})", parts[i], section_label(path),
                           list_keys(type));
      return {};
    }
    path.push_back(field);
    const bool last = i + 1 == parts.size();
    const bool is_section = field->type() == FieldDescriptor::TYPE_MESSAGE;
    if (last && is_section) {
      *error = fmt::format("{} is a section, not a key (keys there: {})", dotted_name(path),
                           list_keys(field->message_type()));
      return {};
    }
    if (!last && !is_section) {
      *error = fmt::format("{} is a key, not a section", dotted_name(path));
      return {};
    }
    if (is_section) type = field->message_type();
  }
  return path;
}

std::string dotted_name(const FieldPath& path) {
  std::string name;
  for (const FieldDescriptor* f : path) {
    if (!name.empty()) name += '.';
    name += f->name();
  }
  return name;
}

std::string list_keys(const Descriptor* section) {
  std::string keys;
  for (int i = 0; i < section->field_count(); ++i) {
    if (i > 0) keys += ", ";
    keys += section->field(i)->name();
  }
  return keys;
}

const FieldDescriptor* section_of(const Descriptor* type) {
  const Descriptor* top = proto::TrainConfigProto::descriptor();
  for (int i = 0; i < top->field_count(); ++i) {
    if (top->field(i)->message_type() == type) return top->field(i);
  }
  return nullptr;
}

void ConfigLocator::note_override(const std::string& dotted, const std::string& override_text) {
  overrides_[dotted] = override_text;
}

std::string ConfigLocator::where(const std::string& dotted, int index) const {
  if (auto it = overrides_.find(dotted); it != overrides_.end()) {
    return fmt::format("override '{}'", it->second);
  }
  std::string error;
  const FieldPath path = resolve_key(dotted, &error);
  FF_ASSERT(!path.empty(), "ConfigLocator::where: {}", error);
  // Walk down the parse tree as far as the file goes; remember the deepest location found, so a
  // key left at its default still points at its section.
  std::string found = source_name_;
  const TextFormat::ParseInfoTree* tree = tree_;
  for (size_t i = 0; i < path.size() && tree != nullptr; ++i) {
    const bool leaf = i + 1 == path.size();
    const int field_index = leaf && path[i]->is_repeated() ? std::max(index, 0) : -1;
    const TextFormat::ParseLocation loc = tree->GetLocation(path[i], field_index);
    if (loc.line < 0) break;
    // Protobuf counts lines and columns from 0; editors count from 1.
    found = fmt::format("{}:{}:{}", source_name_, loc.line + 1, loc.column + 1);
    if (!leaf) tree = tree->GetTreeForNested(path[i], -1);
  }
  return found;
}

}  // namespace ff::apps::config_detail
