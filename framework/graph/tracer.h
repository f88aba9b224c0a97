// Tracer: records one forward pass into a Graph.
//
//   graph::Tracer tracer;                       // active on this thread until finish()/destruction
//   tracer.name_constants(model.named_parameters());  // optional: initializer names
//   tracer.add_input("data", x);
//   Tensor y = model.forward(x);
//   graph::Graph g = tracer.finish({{"embedding", y}});
//
// Every op that can appear in an exported model (FF_REGISTER_OP with kOnnxExportable) carries
// a hook in its frontend:
//
//   Tensor relu(const Tensor& x) {
//     graph::OpTrace trace("relu");          // one thread-local pointer test when not tracing
//     ...compute out...
//     if (trace.recording()) trace.record({x}, {out});
//     return out;
//   }
//
// Only the outermost traced op is recorded: ops that an op calls internally (binary ops casting
// their operands, split slicing its input) do not appear. A tensor read by a recorded op that is
// neither a graph input nor the output of a recorded op becomes an initializer (parameters,
// running statistics, scalar constants). A tensor that shares storage with a traced activation
// but was made by an untraced op is refused (it would otherwise be frozen into a constant).
// In-place writes to traced activations are not representable; the backbones do none.
// Trace in eval mode with autograd off (NoGradGuard).
#pragma once

#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/graph/graph.h"

namespace ff::graph {

class Tracer;

namespace detail {
extern thread_local Tracer* active_tracer;
extern thread_local int trace_depth;  // nesting of OpTrace scopes on this thread
}  // namespace detail

inline bool tracing() { return detail::active_tracer != nullptr; }

class Tracer {
 public:
  Tracer();  // throws if another Tracer is active on this thread
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // Declares a graph input (before the forward pass).
  void add_input(const std::string& name, const Tensor& x);
  // Names for constants, e.g. {"conv1.weight", w}: an initializer made from one of these
  // tensors takes its name instead of "const_<k>".
  void name_constants(const std::vector<std::pair<std::string, Tensor>>& named);
  // Stops tracing and returns the graph with the given outputs (renamed to these names).
  Graph finish(const std::vector<std::pair<std::string, Tensor>>& outputs);

  // Hooks (via OpTrace). Undefined tensors among the inputs become "" (omitted operands).
  void record(const char* op, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
              Attributes attrs);
  // `to` is the same value as `from` (detach, contiguous copies).
  void alias(const Tensor& from, const Tensor& to);

 private:
  std::string value_of(const Tensor& t, const char* op);  // name, making an initializer if new
  std::string define(const Tensor& t, const std::string& name);

  Graph graph_;
  bool finished_ = false;
  std::map<const TensorImpl*, std::string> names_;
  std::map<const TensorImpl*, std::string> constant_names_;
  std::map<const Storage*, std::string> activation_storage_;  // storage -> one value living in it
  std::vector<Tensor> keep_alive_;  // so no TensorImpl address is reused during the trace
  int node_counter_ = 0;
  int const_counter_ = 0;
};

// RAII hook for op frontends (see the header comment).
class OpTrace {
 public:
  explicit OpTrace(const char* op) : op_(op) {
    if (detail::active_tracer != nullptr) {
      active_ = true;
      outermost_ = detail::trace_depth++ == 0;
    }
  }
  ~OpTrace() {
    if (active_) --detail::trace_depth;
  }
  OpTrace(const OpTrace&) = delete;
  OpTrace& operator=(const OpTrace&) = delete;

  bool recording() const { return outermost_; }
  void record(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, Attributes attrs = {}) const {
    if (outermost_) detail::active_tracer->record(op_, inputs, outputs, std::move(attrs));
  }

 private:
  const char* op_;
  bool active_ = false;
  bool outermost_ = false;
};

// For identity-like internals (detach, clone): `to` carries `from`'s value when tracing.
inline void trace_alias(const Tensor& from, const Tensor& to) {
  if (detail::active_tracer != nullptr && detail::trace_depth == 0) detail::active_tracer->alias(from, to);
}

}  // namespace ff::graph
