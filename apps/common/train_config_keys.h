// Internal to the train-config reader (train_config*.cpp): dotted keys of TrainConfigProto
// ("optimizer.lr") resolved to field descriptors, and the locator that says where a key got its
// value (file line, override, or nowhere = default) so every error can point at it.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/text_format.h>

namespace ff::apps::config_detail {

using FieldPath = std::vector<const google::protobuf::FieldDescriptor*>;

// The fields along `dotted` from TrainConfigProto: "optimizer.lr" -> {optimizer, lr}. Every
// component but the last must be a section (message field). Returns an empty path and sets
// *error (a sentence naming the unknown component and the valid keys there) when it does not
// resolve.
FieldPath resolve_key(const std::string& dotted, std::string* error);

// "optimizer.lr" from {optimizer, lr}.
std::string dotted_name(const FieldPath& path);

// The keys of a section, comma-separated ("type, batch_size, lr, ..."), for error messages.
std::string list_keys(const google::protobuf::Descriptor* section);

// The section field of TrainConfigProto whose type is `type` (nullptr for TrainConfigProto
// itself or an unknown type).
const google::protobuf::FieldDescriptor* section_of(const google::protobuf::Descriptor* type);

// The dotted keys that TrainConfig fields are read from and printed to (train_config.cpp's
// binding table), in table order; for the test that every proto key is bound exactly once.
std::vector<std::string> bound_keys();

class ConfigLocator {
 public:
  // `tree` holds the locations of the parsed file (may be null: no locations known); it must
  // outlive the locator.
  ConfigLocator(std::string source_name, const google::protobuf::TextFormat::ParseInfoTree* tree)
      : source_name_(std::move(source_name)), tree_(tree) {}

  // Records that override `override_text` set `dotted` (later overrides of a key win).
  void note_override(const std::string& dotted, const std::string& override_text);

  // Where the value of `dotted` (element `index` of a repeated key, -1 for a singular one) comes
  // from: "override 'optimizer.lr=-1'", "<file>:<line>:<col>" (1-based) where the file sets it,
  // or, when the default is in effect, the location of its closest enclosing section in the
  // file, else just "<file>".
  std::string where(const std::string& dotted, int index = -1) const;

  const std::string& source_name() const { return source_name_; }

 private:
  std::string source_name_;
  const google::protobuf::TextFormat::ParseInfoTree* tree_;
  std::map<std::string, std::string> overrides_;
};

}  // namespace ff::apps::config_detail
