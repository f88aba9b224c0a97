#include "framework/io/checkpoint.h"

#include <cerrno>
#include <cstdlib>

namespace ff {

namespace {

constexpr const char* kFormat = "faceflow.checkpoint";
constexpr int64_t kFormatVersion = 1;

struct Section {
  const char* prefix;
  StateDict Checkpoint::*dict;
};
constexpr Section kSections[] = {
    {"model.", &Checkpoint::model}, {"optimizer.", &Checkpoint::optimizer}, {"scheduler.", &Checkpoint::scheduler}};

bool is_reserved(const std::string& key) {
  return key == "format" || key == "format_version" || key == "epoch" || key == "global_step";
}

int64_t parse_int(const std::string& path, const SafetensorsMetadata& metadata, const char* key) {
  const auto it = metadata.find(key);
  FF_CHECK(it != metadata.end(), "checkpoint '{}': metadata has no '{}' entry", path, key);
  const std::string& s = it->second;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  FF_CHECK(!s.empty() && errno == 0 && end == s.c_str() + s.size(),
           "checkpoint '{}': metadata '{}' = '{}' is not an integer", path, key, s);
  return static_cast<int64_t>(v);
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint) {
  StateDict all;
  for (const Section& section : kSections) {
    for (const auto& [key, t] : checkpoint.*section.dict) all[section.prefix + key] = t;
  }
  SafetensorsMetadata metadata;
  for (const auto& [key, value] : checkpoint.metadata) {
    FF_CHECK(!is_reserved(key), "save_checkpoint('{}'): metadata key '{}' is reserved (format, format_version, epoch, "
             "global_step are written from the Checkpoint fields)", path, key);
    metadata[key] = value;
  }
  metadata["format"] = kFormat;
  metadata["format_version"] = std::to_string(kFormatVersion);
  metadata["epoch"] = std::to_string(checkpoint.epoch);
  metadata["global_step"] = std::to_string(checkpoint.global_step);
  save_safetensors(path, all, metadata);
}

void save_checkpoint(const std::string& path, const StateDict& model, const StateDict& optimizer,
                     const StateDict& scheduler, int64_t epoch, int64_t global_step,
                     const SafetensorsMetadata& metadata) {
  Checkpoint c;
  c.model = model;  // handles only: no tensor data is copied
  c.optimizer = optimizer;
  c.scheduler = scheduler;
  c.epoch = epoch;
  c.global_step = global_step;
  c.metadata = metadata;
  save_checkpoint(path, c);
}

Checkpoint load_checkpoint(const std::string& path) {
  SafetensorsContents contents = load_safetensors(path);
  const auto format = contents.metadata.find("format");
  FF_CHECK(format != contents.metadata.end() && format->second == kFormat,
           "checkpoint '{}': not a FaceFlow checkpoint (metadata 'format' is {}); use load_safetensors for plain "
           "tensor files",
           path, format == contents.metadata.end() ? std::string("missing") : "'" + format->second + "'");
  const int64_t version = parse_int(path, contents.metadata, "format_version");
  FF_CHECK(version >= 1 && version <= kFormatVersion,
           "checkpoint '{}': format_version {} is not supported (this FaceFlow reads 1..{})", path, version,
           kFormatVersion);
  Checkpoint out;
  out.epoch = parse_int(path, contents.metadata, "epoch");
  out.global_step = parse_int(path, contents.metadata, "global_step");
  for (auto& [key, value] : contents.metadata) {
    if (!is_reserved(key)) out.metadata[key] = value;
  }
  for (auto& [key, t] : contents.tensors) {
    bool placed = false;
    for (const Section& section : kSections) {
      const std::string prefix = section.prefix;
      if (key.compare(0, prefix.size(), prefix) == 0) {
        (out.*section.dict)[key.substr(prefix.size())] = std::move(t);
        placed = true;
        break;
      }
    }
    FF_CHECK(placed, "checkpoint '{}': tensor '{}' belongs to no section (expected a 'model.', 'optimizer.' or "
             "'scheduler.' prefix)", path, key);
  }
  return out;
}

}  // namespace ff
