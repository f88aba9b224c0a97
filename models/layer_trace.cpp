#include "models/layer_trace.h"

#include "framework/common/check.h"

namespace ff::models {

namespace {
thread_local LayerTrace* active_trace = nullptr;
}  // namespace

LayerTrace::LayerTrace() : previous_(active_trace) { active_trace = this; }

LayerTrace::~LayerTrace() { active_trace = previous_; }

Tensor call_layer(nn::Module& layer, const Tensor& x) {
  LayerTrace* trace = active_trace;
  if (trace == nullptr) return layer.forward(x);
  Tensor y = layer.forward(x);
  trace->calls_.push_back(LayerCall{&layer, x.sizes(), y.sizes()});
  return y;
}

Tensor run_sequence(const nn::ModuleSequence& sequence, const Tensor& x) {
  Tensor out = x;
  for (const auto& [child_name, child] : sequence.named_children()) {
    try {
      out = call_layer(*child, out);
    } catch (const Error& e) {
      throw Error(fmt::format("{}\n  in {} ({}): {}", e.what(), sequence.name(), child_name, child->name()));
    }
  }
  return out;
}

}  // namespace ff::models
