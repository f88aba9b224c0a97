// Loading and saving a backbone's weights for the apps (val, onnx_export, train's final export).
//
// A backbone file is a safetensors file of the backbone's state_dict with arcface_torch key names
// ("conv1.weight", "layer1.0.bn1.running_mean", ...), float32 (float16/bfloat16 are accepted and
// cast). train writes <output>/model.safetensors (backbone only); tools/pt_to_safetensors.py turns
// an arcface_torch model.pt into one. Metadata "network" and "embedding_size" are written by
// save_backbone (with width_divisor and input_size) and, when present, checked against the
// requested network on load.
#pragma once
#include <memory>
#include <string>
#include "framework/nn/module.h"
#include "models/backbone.h"

namespace ff::apps {

// create_backbone(network, options) then a strict load of `path`; eval mode, CPU, float32.
// Errors name the file and the first missing / unexpected / mis-shaped key. The file's metadata
// (written by save_backbone) decides embedding_size and width_divisor; its input_size must equal
// options.input_size, or is taken from the file when options.input_size is 0.
std::shared_ptr<models::Backbone> load_backbone(const std::string& path, const std::string& network,
                                                const models::BackboneOptions& options = {});

// Atomic write of the backbone's state_dict (cast to float32) with metadata network/embedding_size.
// `float32_values` (by state_dict key) replace the module's tensors where given: the trainer passes
// its float32 master weights, so that a model trained in fp16/bf16 is saved unrounded, as
// arcface_torch (whose autocast keeps float32 parameters) saves it. Each must match the shape.
void save_backbone(const std::string& path, const models::Backbone& backbone, const StateDict& float32_values = {});

}  // namespace ff::apps
