// Backbones by name, like arcface_torch's backbones.get_model():
//
//   auto model = ff::models::create_backbone("r100", ff::models::BackboneOptions().set_body_dtype(ff::DType::Float16));
//   Tensor embedding = model->forward(images);  // [N, 3, 112, 112] -> [N, 512]
//
// Names: "r18", "r34", "r50", "r100", "r200" (IResNet, iresnet.h) and "mbf", "mbf_large"
// (MobileFaceNet, mobilefacenet.h). The returned module is an IResNet or a MobileFaceNet, both
// derived from models::Backbone (dynamic_pointer_cast to reach network(), set_body_dtype(), ...).
// The model starts in training mode on the CPU, initialised as arcface_torch initialises it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "framework/nn/module.h"
#include "models/backbone.h"

namespace ff::models {

// Throws ff::Error listing the valid names when `name` is not one of them.
std::shared_ptr<nn::Module> create_backbone(const std::string& name, const BackboneOptions& options = {});

// The names create_backbone accepts, in the order above.
const std::vector<std::string>& backbone_names();

}  // namespace ff::models
