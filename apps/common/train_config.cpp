// TrainConfig <-> TrainConfigProto, and the reader: text -> proto (train_config_text.cpp) ->
// overrides (train_config_overrides.cpp) -> TrainConfig -> checks (train_config_validate.cpp).
#include "apps/common/train_config.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <type_traits>
#include <variant>

#include "apps/common/train_config_keys.h"
#include "apps/common/train_config_overrides.h"
#include "apps/common/train_config_text.h"
#include "apps/common/train_config_validate.h"
#include "framework/common/check.h"
#include "train_config.pb.h"

namespace ff::apps {

namespace {

namespace pb = google::protobuf;

// One row per key: its dotted path in TrainConfigProto and the TrainConfig member it fills.
// from_proto and to_proto both walk this table, so a key is mapped in exactly one place; a test
// (ConfigBindings.EveryProtoKeyHasExactlyOneMember) fails when a proto key has no row.
using Member = std::variant<std::string TrainConfig::*, int64_t TrainConfig::*, int TrainConfig::*,
                            uint64_t TrainConfig::*, double TrainConfig::*, bool TrainConfig::*,
                            std::vector<std::string> TrainConfig::*>;
struct Binding {
  const char* key;
  Member member;
};

const std::vector<Binding>& bindings() {
  static const std::vector<Binding> table = {
      {"model.network", &TrainConfig::network},
      {"model.embedding_size", &TrainConfig::embedding_size},
      {"model.dropout", &TrainConfig::dropout},
      {"model.width_divisor", &TrainConfig::width_divisor},
      {"model.input_size", &TrainConfig::input_size},
      {"margin.m1", &TrainConfig::m1},
      {"margin.m2", &TrainConfig::m2},
      {"margin.m3", &TrainConfig::m3},
      {"margin.s", &TrainConfig::scale},
      {"margin.sample_rate", &TrainConfig::sample_rate},
      {"margin.interclass_filtering_threshold", &TrainConfig::interclass_filtering_threshold},
      {"precision", &TrainConfig::precision},
      {"device", &TrainConfig::device},
      {"optimizer.type", &TrainConfig::optimizer},
      {"optimizer.batch_size", &TrainConfig::batch_size},
      {"optimizer.lr", &TrainConfig::lr},
      {"optimizer.momentum", &TrainConfig::momentum},
      {"optimizer.weight_decay", &TrainConfig::weight_decay},
      {"optimizer.num_epoch", &TrainConfig::num_epoch},
      {"optimizer.warmup_epoch", &TrainConfig::warmup_epoch},
      {"optimizer.gradient_acc", &TrainConfig::gradient_acc},
      {"optimizer.clip_grad_norm", &TrainConfig::clip_grad_norm},
      {"optimizer.seed", &TrainConfig::seed},
      {"optimizer.max_steps", &TrainConfig::max_steps},
      {"data.path", &TrainConfig::data_path},
      {"data.format", &TrainConfig::data_format},
      {"data.num_classes", &TrainConfig::num_classes},
      {"data.num_image", &TrainConfig::num_image},
      {"data.val_targets", &TrainConfig::val_targets},
      {"data.val_dir", &TrainConfig::val_dir},
      {"data.num_workers", &TrainConfig::num_workers},
      {"data.image_dtype", &TrainConfig::image_dtype},
      {"data.skip_bad_records", &TrainConfig::skip_bad_records},
      {"data.synthetic_identities", &TrainConfig::synthetic_identities},
      {"data.synthetic_images_per_identity", &TrainConfig::synthetic_images_per_identity},
      {"logging.verbose", &TrainConfig::verbose},
      {"logging.frequent", &TrainConfig::frequent},
      {"logging.output", &TrainConfig::output},
      {"logging.resume", &TrainConfig::resume},
      {"logging.save_every_steps", &TrainConfig::save_every_steps},
      {"logging.save_all_states", &TrainConfig::save_all_states},
      {"logging.keep_checkpoints", &TrainConfig::keep_checkpoints},
  };
  return table;
}

// The message that holds a key's field ("optimizer.lr" -> the optimizer section) and the field.
struct FieldRef {
  const pb::Message* message = nullptr;  // null: the section is absent (every key at its default)
  const pb::FieldDescriptor* field = nullptr;
};

config_detail::FieldPath resolve_bound_key(const char* key) {
  std::string error;
  config_detail::FieldPath path = config_detail::resolve_key(key, &error);
  FF_ASSERT(!path.empty(), "train config binding '{}' does not resolve: {}", key, error);
  return path;
}

FieldRef find_field(const pb::Message& root, const char* key) {
  const config_detail::FieldPath path = resolve_bound_key(key);
  const pb::Message* message = &root;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    if (!message->GetReflection()->HasField(*message, path[i])) return {nullptr, path.back()};
    message = &message->GetReflection()->GetMessage(*message, path[i]);
  }
  return {message, path.back()};
}

pb::Message* mutable_parent(pb::Message* root, const char* key, const pb::FieldDescriptor** field) {
  const config_detail::FieldPath path = resolve_bound_key(key);
  pb::Message* message = root;
  for (size_t i = 0; i + 1 < path.size(); ++i) message = message->GetReflection()->MutableMessage(message, path[i]);
  *field = path.back();
  return message;
}

// The proto field's C++ type must be the member's (int32 for an int member, and so on).
template <typename T>
constexpr pb::FieldDescriptor::CppType cpp_type_of() {
  using F = pb::FieldDescriptor;
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::vector<std::string>>) return F::CPPTYPE_STRING;
  if constexpr (std::is_same_v<T, int64_t>) return F::CPPTYPE_INT64;
  if constexpr (std::is_same_v<T, int>) return F::CPPTYPE_INT32;
  if constexpr (std::is_same_v<T, uint64_t>) return F::CPPTYPE_UINT64;
  if constexpr (std::is_same_v<T, double>) return F::CPPTYPE_DOUBLE;
  if constexpr (std::is_same_v<T, bool>) return F::CPPTYPE_BOOL;
}

template <typename T>
void check_binding_type(const char* key, const pb::FieldDescriptor* field) {
  constexpr bool repeated = std::is_same_v<T, std::vector<std::string>>;
  FF_ASSERT(field->cpp_type() == cpp_type_of<T>() && field->is_repeated() == repeated,
            "train config binding '{}': proto type {} does not match the TrainConfig member", key,
            field->cpp_type_name());
}

template <typename T>
void read_field(const pb::Message& m, const pb::FieldDescriptor* f, T* out) {
  const pb::Reflection* r = m.GetReflection();
  if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    const int n = r->FieldSize(m, f);
    out->clear();
    for (int i = 0; i < n; ++i) out->push_back(r->GetRepeatedString(m, f, i));
  } else if constexpr (std::is_same_v<T, std::string>) {
    *out = r->GetString(m, f);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    *out = r->GetInt64(m, f);
  } else if constexpr (std::is_same_v<T, int>) {
    *out = r->GetInt32(m, f);
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    *out = r->GetUInt64(m, f);
  } else if constexpr (std::is_same_v<T, double>) {
    *out = r->GetDouble(m, f);
  } else {
    *out = r->GetBool(m, f);
  }
}

template <typename T>
void write_field(pb::Message* m, const pb::FieldDescriptor* f, const T& value) {
  const pb::Reflection* r = m->GetReflection();
  if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    for (const std::string& v : value) r->AddString(m, f, v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    r->SetString(m, f, value);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    r->SetInt64(m, f, value);
  } else if constexpr (std::is_same_v<T, int>) {
    r->SetInt32(m, f, value);
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    r->SetUInt64(m, f, value);
  } else if constexpr (std::is_same_v<T, double>) {
    r->SetDouble(m, f, value);
  } else {
    r->SetBool(m, f, value);
  }
}

// Keys absent from the file keep TrainConfig's defaults (proto2 has_*), so defaults live in
// train_config.h only.
TrainConfig from_proto(const proto::TrainConfigProto& p) {
  TrainConfig c;
  for (const Binding& b : bindings()) {
    const FieldRef ref = find_field(p, b.key);
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(c.*member)>;
          check_binding_type<T>(b.key, ref.field);
          if (ref.message == nullptr) return;
          const pb::Reflection* r = ref.message->GetReflection();
          const bool present =
              ref.field->is_repeated() ? r->FieldSize(*ref.message, ref.field) > 0 : r->HasField(*ref.message, ref.field);
          if (present) read_field(*ref.message, ref.field, &(c.*member));
        },
        b.member);
  }
  return c;
}

// Every field set, so the text shows the effective value of every key.
proto::TrainConfigProto to_proto(const TrainConfig& c) {
  proto::TrainConfigProto p;
  for (const Binding& b : bindings()) {
    const pb::FieldDescriptor* field = nullptr;
    pb::Message* parent = mutable_parent(&p, b.key, &field);
    std::visit(
        [&](auto member) {
          using T = std::remove_const_t<std::remove_reference_t<decltype(c.*member)>>;
          check_binding_type<T>(b.key, field);
          write_field(parent, field, c.*member);
        },
        b.member);
  }
  return p;
}

}  // namespace

namespace config_detail {
std::vector<std::string> bound_keys() {
  std::vector<std::string> keys;
  for (const Binding& b : bindings()) keys.push_back(b.key);
  return keys;
}
}  // namespace config_detail

TrainConfig parse_train_config(const std::string& text, const std::string& source_name,
                               const std::vector<std::string>& overrides) {
  proto::TrainConfigProto proto;
  google::protobuf::TextFormat::ParseInfoTree tree;
  const std::vector<config_detail::TextError> errors = config_detail::parse_text_format(text, &proto, &tree);
  if (!errors.empty()) {
    std::string message;
    for (const config_detail::TextError& e : errors) {
      message += fmt::format("{}{}:{}:{}: {}", message.empty() ? "" : "\n", source_name, e.line, e.column, e.message);
    }
    FF_THROW("{}", message);
  }
  config_detail::ConfigLocator locator(source_name, &tree);
  for (const std::string& o : overrides) config_detail::apply_override(o, &proto, &locator);
  TrainConfig config = from_proto(proto);
  config_detail::validate_train_config(config, proto, locator);
  config_detail::fill_derived_defaults(&config);
  config.source_file = source_name;
  return config;
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  FF_CHECK(in.good(), "cannot open config file '{}'", path);
  std::ostringstream text;
  text << in.rdbuf();
  FF_CHECK(!in.bad(), "cannot read config file '{}'", path);
  return parse_train_config(text.str(), path, overrides);
}

std::string train_config_to_text(const TrainConfig& config) {
  google::protobuf::TextFormat::Printer printer;
  std::string body;
  FF_ASSERT(printer.PrintToString(to_proto(config), &body), "printing the TrainConfigProto failed");
  std::string header = "# FaceFlow training config: every key with its effective value";
  if (!config.source_file.empty()) {
    std::string source = config.source_file;
    for (char& ch : source) {
      if (ch == '\n' || ch == '\r') ch = ' ';  // keep the comment on one line
    }
    header += fmt::format(" (read from {})", source);
  }
  return header + "\n" + body;
}

}  // namespace ff::apps
