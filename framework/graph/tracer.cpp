#include "framework/graph/tracer.h"

#include "framework/common/check.h"

namespace ff::graph {

namespace detail {
thread_local Tracer* active_tracer = nullptr;
thread_local int trace_depth = 0;
}  // namespace detail

Tracer::Tracer() {
  FF_CHECK(detail::active_tracer == nullptr, "Tracer: another trace is already active on this thread");
  detail::active_tracer = this;
  detail::trace_depth = 0;
}

Tracer::~Tracer() {
  if (detail::active_tracer == this) detail::active_tracer = nullptr;
}

std::string Tracer::define(const Tensor& t, const std::string& name) {
  names_[t.impl()] = name;
  keep_alive_.push_back(t);
  activation_storage_.emplace(t.storage().get(), name);
  graph_.set_value(ValueInfo{name, t.sizes(), t.dtype()});
  return name;
}

void Tracer::add_input(const std::string& name, const Tensor& x) {
  FF_CHECK(!finished_, "Tracer::add_input('{}'): the trace is finished", name);
  FF_CHECK(x.defined(), "Tracer::add_input: input '{}' is an undefined tensor", name);
  FF_CHECK(!names_.count(x.impl()), "Tracer::add_input: tensor for '{}' is already traced as '{}'", name,
           names_[x.impl()]);
  FF_CHECK(!graph_.has_value(name), "Tracer::add_input: duplicate input name '{}'", name);
  define(x, name);
  graph_.inputs.push_back(ValueInfo{name, x.sizes(), x.dtype()});
}

void Tracer::name_constants(const std::vector<std::pair<std::string, Tensor>>& named) {
  for (const auto& [name, t] : named) {
    if (!t.defined()) continue;
    constant_names_[t.impl()] = name;
    keep_alive_.push_back(t);
  }
}

std::string Tracer::value_of(const Tensor& t, const char* op) {
  if (!t.defined()) return "";
  auto it = names_.find(t.impl());
  if (it != names_.end()) return it->second;
  auto st = activation_storage_.find(t.storage().get());
  FF_CHECK(st == activation_storage_.end(),
           "Tracer: op '{}' reads {}, which shares storage with traced value '{}' but was made by an op "
           "without a trace hook (it would be frozen into a constant)",
           op, t.describe(), st == activation_storage_.end() ? "" : st->second);
  auto named = constant_names_.find(t.impl());
  std::string name = named != constant_names_.end() ? named->second : fmt::format("const_{}", const_counter_++);
  name = graph_.unique_name(name);
  // Constants are snapshotted on the CPU: later in-place updates cannot change the graph.
  graph_.add_initializer(name, t.to(Device()).contiguous().clone());
  names_[t.impl()] = name;
  keep_alive_.push_back(t);
  return name;
}

void Tracer::record(const char* op, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                    Attributes attrs) {
  FF_ASSERT(!finished_, "Tracer::record('{}') after finish()", op);
  size_t known = 0;
  for (const auto& o : outputs) known += o.defined() && names_.count(o.impl());
  // An op that returned one of its inputs unchanged (cast to the same dtype, expand to the
  // same shape) adds nothing to the graph.
  if (known == outputs.size()) return;
  FF_ASSERT(known == 0, "Tracer: op '{}' returned a mix of new and already traced tensors", op);
  Node node;
  node.op = op;
  node.name = fmt::format("{}_{}", op, node_counter_++);
  for (const auto& in : inputs) node.inputs.push_back(value_of(in, op));
  for (size_t i = 0; i < outputs.size(); ++i) {
    FF_ASSERT(outputs[i].defined(), "Tracer: op '{}' output {} is undefined", op, i);
    const std::string name = outputs.size() == 1 ? node.name : fmt::format("{}_{}", node.name, i);
    node.outputs.push_back(define(outputs[i], graph_.unique_name(name)));
  }
  node.attrs = std::move(attrs);
  graph_.nodes.push_back(std::move(node));
}

void Tracer::alias(const Tensor& from, const Tensor& to) {
  if (!from.defined() || !to.defined() || from.is_same(to)) return;
  auto it = names_.find(from.impl());
  if (it == names_.end()) return;  // not an activation: constants are resolved when read
  names_[to.impl()] = it->second;
  keep_alive_.push_back(to);
  activation_storage_.emplace(to.storage().get(), it->second);
}

Graph Tracer::finish(const std::vector<std::pair<std::string, Tensor>>& outputs) {
  FF_CHECK(!finished_, "Tracer::finish called twice");
  FF_CHECK(!outputs.empty(), "Tracer::finish: no outputs given");
  finished_ = true;
  if (detail::active_tracer == this) detail::active_tracer = nullptr;
  for (const auto& [name, t] : outputs) {
    FF_CHECK(t.defined(), "Tracer::finish: output '{}' is an undefined tensor", name);
    auto it = names_.find(t.impl());
    FF_CHECK(it != names_.end(), "Tracer::finish: output '{}' ({}) was not produced by a traced op", name,
             t.describe());
    const std::string internal = it->second;
    FF_CHECK(graph_.producer(internal) >= 0,
             "Tracer::finish: output '{}' is the graph input or constant '{}' itself", name, internal);
    FF_CHECK(!graph_.is_graph_output(internal), "Tracer::finish: output '{}' repeats another output", name);
    if (internal != name) {
      FF_CHECK(!graph_.has_value(name), "Tracer::finish: output name '{}' is already used in the graph", name);
      graph_.rename_value(internal, name);
      for (auto& [impl, n] : names_)
        if (n == internal) n = name;
    }
    graph_.outputs.push_back(graph_.value(name));
  }
  // An input nothing reads means the forward pass went through ops without trace hooks (its
  // values would have been frozen into constants).
  for (const auto& v : graph_.inputs)
    FF_CHECK(graph_.use_count(v.name) > 0, "Tracer::finish: graph input '{}' is never read by a traced op", v.name);
  graph_.validate();
  return std::move(graph_);
}

}  // namespace ff::graph
