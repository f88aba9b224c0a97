#include "apps/common/model_io.h"

#include <fmt/format.h>

#include "framework/common/check.h"
#include "framework/io/safetensors.h"
#include "models/model_factory.h"

namespace ff::apps {

std::shared_ptr<models::Backbone> load_backbone(const std::string& path, const std::string& network,
                                                const models::BackboneOptions& options) {
  SafetensorsContents contents = load_safetensors(path);
  // A file written by save_backbone says what it holds: catch "--network r50" on an r100 file
  // with a message about the network rather than a list of 300 missing keys.
  auto meta = contents.metadata.find("network");
  FF_CHECK(meta == contents.metadata.end() || meta->second == network,
           "{}: this backbone file holds network '{}', but '{}' was requested", path, meta->second, network);
  models::BackboneOptions opts = options;
  auto emb = contents.metadata.find("embedding_size");
  if (emb != contents.metadata.end()) opts.embedding_size = std::stoll(emb->second);
  // The channel divisor is part of the architecture the file holds; the input size is also the
  // size of the images the caller will feed, so a different one is the caller's to fix.
  auto divisor = contents.metadata.find("width_divisor");
  if (divisor != contents.metadata.end()) opts.width_divisor = std::stoll(divisor->second);
  auto input = contents.metadata.find("input_size");
  if (opts.input_size <= 0) {
    opts.input_size = input != contents.metadata.end() ? std::stoll(input->second) : 112;
  } else {
    FF_CHECK(input == contents.metadata.end() || std::stoll(input->second) == opts.input_size,
             "{}: this backbone was trained on {}x{} images, but {}x{} were requested (val: --image-size {})", path,
             input->second, input->second, opts.input_size, opts.input_size, input->second);
  }

  auto module = models::create_backbone(network, opts);
  auto backbone = std::dynamic_pointer_cast<models::Backbone>(module);
  FF_ASSERT(backbone != nullptr, "create_backbone returned a module that is not a Backbone");
  try {
    backbone->load_state_dict(contents.tensors, /*strict=*/true);
  } catch (const Error& e) {
    FF_THROW("{}: cannot load it into network '{}': {}", path, network, e.what());
  }
  backbone->eval();
  return backbone;
}

void save_backbone(const std::string& path, const models::Backbone& backbone, const StateDict& float32_values) {
  StateDict state;
  size_t replaced = 0;
  for (const auto& [key, tensor] : backbone.state_dict()) {
    const auto value = float32_values.find(key);
    if (value != float32_values.end()) {
      FF_CHECK(value->second.sizes() == tensor.sizes(),
               "save_backbone '{}': the value given for '{}' is {}, the model's {}", path, key,
               value->second.describe(), tensor.describe());
      state[key] = value->second.to(Device()).to(DType::Float32);
      ++replaced;
      continue;
    }
    // Backbone files are float32 whatever the training precision; integral buffers (BN's
    // num_batches_tracked) keep their dtype.
    state[key] = is_floating(tensor.dtype()) ? tensor.to(Device()).to(DType::Float32) : tensor.to(Device());
  }
  FF_CHECK(replaced == float32_values.size(), "save_backbone '{}': {} of the {} values given name no state_dict key",
           path, float32_values.size() - replaced, float32_values.size());
  SafetensorsMetadata metadata{{"network", backbone.network()},
                               {"embedding_size", std::to_string(backbone.embedding_size())},
                               {"width_divisor", std::to_string(backbone.options().width_divisor)},
                               {"input_size", std::to_string(backbone.input_size())},
                               {"format", "faceflow.backbone"}};
  save_safetensors(path, state, metadata);
}

}  // namespace ff::apps
