#include "models/complexity.h"

#include <map>
#include <set>

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "framework/nn/nn.h"
#include "models/layer_trace.h"
#include "ops/tensor_ops/fill.h"

namespace ff::models {

namespace {

enum class CostKind { Conv, Linear, BatchNorm, Activation, None };

CostKind kind_of(const nn::Module& m) {
  if (dynamic_cast<const nn::Conv2d*>(&m)) return CostKind::Conv;
  if (dynamic_cast<const nn::Linear*>(&m)) return CostKind::Linear;
  if (dynamic_cast<const nn::BatchNormBase*>(&m)) return CostKind::BatchNorm;
  if (dynamic_cast<const nn::PReLU*>(&m) || dynamic_cast<const nn::ReLU*>(&m)) return CostKind::Activation;
  return CostKind::None;
}

// ptflops' hook formulas (see complexity.h).
int64_t macs_of(const nn::Module& m, CostKind kind, const Shape& in, const Shape& out) {
  switch (kind) {
    case CostKind::Conv: {
      const auto& conv = static_cast<const nn::Conv2d&>(m);
      const nn::Conv2dOptions& o = conv.options();
      const int64_t positions = out[0] * out[2] * out[3];
      const int64_t per_position = o.kernel_size[0] * o.kernel_size[1] * o.in_channels * (o.out_channels / o.groups);
      return positions * per_position + (o.bias ? positions * o.out_channels : 0);
    }
    case CostKind::Linear: {
      const auto& linear = static_cast<const nn::Linear&>(m);
      return shape_numel(in) * linear.out_features() + (linear.bias.defined() ? linear.out_features() : 0);
    }
    case CostKind::BatchNorm: {
      const auto& bn = static_cast<const nn::BatchNormBase&>(m);
      return shape_numel(in) * (bn.options().affine ? 2 : 1);
    }
    case CostKind::Activation:
      return shape_numel(out);
    case CostKind::None:
      return 0;
  }
  return 0;
}

const char* short_type(CostKind kind) {
  switch (kind) {
    case CostKind::Conv:
      return "conv";
    case CostKind::Linear:
      return "linear";
    case CostKind::BatchNorm:
      return "batch_norm";
    case CostKind::Activation:
      return "activation";
    case CostKind::None:
      return "other";
  }
  return "other";
}

}  // namespace

Complexity measure_complexity(nn::Module& model, const Shape& input_shape) {
  Complexity result;
  for (const auto& [name, p] : model.named_parameters()) {
    result.parameters += p.numel();
    if (p.requires_grad()) result.trainable_parameters += p.numel();
    result.parameter_bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }

  std::map<const nn::Module*, std::string> names;
  for (const auto& [path, module] : model.named_modules()) names.emplace(module, path);

  // Each module's own mode, restored parents first (train() recurses) after the eval forward.
  std::vector<std::pair<nn::Module*, bool>> modes;
  for (nn::Module* m : model.modules()) modes.emplace_back(m, m->is_training());
  const auto restore_modes = [&modes] {
    for (auto& [m, training] : modes) m->train(training);
  };
  LayerTrace trace;
  try {
    autograd::NoGradGuard no_grad;
    model.eval();
    // The input lives where the parameters do (the CPU for a model without any).
    const std::vector<Tensor> params = model.parameters();
    model.forward(zeros(input_shape, DType::Float32, params.empty() ? Device() : params.front().device()));
  } catch (...) {
    restore_modes();
    throw;
  }
  restore_modes();

  std::set<const nn::Module*> seen;
  for (const LayerCall& call : trace.calls()) {
    const CostKind kind = kind_of(*call.layer);
    if (kind == CostKind::None) continue;  // containers and free layers (flatten, dropout)
    seen.insert(call.layer);
    const auto it = names.find(call.layer);
    LayerCost cost{it == names.end() ? std::string("?") : it->second, call.layer->name(), call.input, call.output,
                   macs_of(*call.layer, kind, call.input, call.output)};
    switch (kind) {
      case CostKind::Conv:
        result.conv_macs += cost.macs;
        break;
      case CostKind::Linear:
        result.linear_macs += cost.macs;
        break;
      case CostKind::BatchNorm:
        result.batch_norm_macs += cost.macs;
        break;
      case CostKind::Activation:
        result.activation_macs += cost.macs;
        break;
      case CostKind::None:
        break;
    }
    result.layers.push_back(std::move(cost));
  }

  for (const auto& [path, module] : model.named_modules()) {
    const CostKind kind = kind_of(*module);
    FF_CHECK(kind == CostKind::None || seen.count(module) > 0,
             "measure_complexity: {} layer '{}' ({}) never ran through models::call_layer in {}'s forward, so its "
             "cost cannot be counted",
             short_type(kind), path, module->name(), model.name());
  }
  return result;
}

}  // namespace ff::models
