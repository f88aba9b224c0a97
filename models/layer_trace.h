// Forward-hook stand-in for the backbones: every layer call inside a model goes through
// call_layer(), which records the layer and its input/output shapes into the LayerTrace active
// on this thread (if any). measure_complexity() (complexity.h) uses the trace to count MACs
// the way ptflops' forward hooks do, from the shapes of an actual forward pass.
//
//   Tensor ConvBlock::forward(const Tensor& x) { return run_sequence(*layers, x); }
//
// Rule for code in models/: never call a child's forward() directly; use call_layer() for a
// single child and run_sequence() for a Sequential/ModuleList whose children run in order.
// measure_complexity() refuses a model in which some layer never showed up in the trace, so a
// forgotten call_layer() is an error, not a silently low count.
//
// When no trace is active the cost is one thread-local pointer test per call.
#pragma once

#include <vector>

#include "framework/core/shape.h"
#include "framework/core/tensor.h"
#include "framework/nn/layers/module_list.h"
#include "framework/nn/module.h"

namespace ff::models {

struct LayerCall {
  const nn::Module* layer = nullptr;
  Shape input;
  Shape output;
};

// Records the calls made on this thread during its lifetime (scopes nest; the innermost wins).
class LayerTrace {
 public:
  LayerTrace();
  ~LayerTrace();
  LayerTrace(const LayerTrace&) = delete;
  LayerTrace& operator=(const LayerTrace&) = delete;

  // In completion order (a composite module is listed after the layers it called).
  const std::vector<LayerCall>& calls() const { return calls_; }

 private:
  friend Tensor call_layer(nn::Module& layer, const Tensor& x);
  std::vector<LayerCall> calls_;
  LayerTrace* previous_;
};

// y = layer.forward(x), recorded in the active trace.
Tensor call_layer(nn::Module& layer, const Tensor& x);

// Runs the children of `sequence` in order through call_layer(). An ff::Error from a child gains
// a traceback line naming it, as nn::Sequential does.
Tensor run_sequence(const nn::ModuleSequence& sequence, const Tensor& x);

}  // namespace ff::models
