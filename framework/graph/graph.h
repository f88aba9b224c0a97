// Graph IR: a forward pass recorded by the tracer (tracer.h), rewritten by passes (passes.h),
// replayed by the reference interpreter (interpreter.h) and exported to ONNX (framework/onnx).
//
// Values are named; a name is produced once (by a graph input, an initializer or one node
// output) and may be read by many nodes. An empty input name stands for an omitted optional
// operand (conv2d without bias, batch_norm without weight). Nodes are kept in topological
// order: every node reads only values produced before it.
//
// Op names and attributes are those of FaceFlow's ops ("conv2d" with strides/pads/...), not
// ONNX's: the ONNX rules translate them.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "framework/core/dtype.h"
#include "framework/core/shape.h"
#include "framework/core/tensor.h"

namespace ff::graph {

// int64, float64, int list, float list or string.
using AttrValue = std::variant<int64_t, double, std::vector<int64_t>, std::vector<double>, std::string>;
using Attributes = std::map<std::string, AttrValue>;

struct ValueInfo {
  std::string name;
  Shape shape;  // as traced (concrete sizes)
  DType dtype = DType::Float32;
};

struct Node {
  std::string name;  // unique within the graph, e.g. "conv2d_3"
  std::string op;    // a registered FaceFlow op name
  std::vector<std::string> inputs;   // "" = omitted optional operand
  std::vector<std::string> outputs;
  Attributes attrs;

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  // Typed getters: a missing key or a value of another type raises ff::Error naming the node.
  int64_t attr_int(const std::string& key) const;
  double attr_float(const std::string& key) const;
  const std::vector<int64_t>& attr_ints(const std::string& key) const;
  const std::string& attr_string(const std::string& key) const;
  std::optional<double> attr_float_opt(const std::string& key) const;
};

class Graph {
 public:
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  std::vector<Node> nodes;

  // ---- values ---------------------------------------------------------------------------------
  bool has_value(const std::string& name) const { return values_.count(name) != 0; }
  const ValueInfo& value(const std::string& name) const;  // throws naming the value
  void set_value(const ValueInfo& v) { values_[v.name] = v; }
  void erase_value(const std::string& name) { values_.erase(name); }
  // A name not used yet, "<hint>" or "<hint>_<k>".
  std::string unique_name(const std::string& hint) const;

  // ---- initializers (constant tensors: parameters, BN statistics, scalars) ---------------------
  bool is_initializer(const std::string& name) const { return initializers_.count(name) != 0; }
  const Tensor& initializer(const std::string& name) const;  // throws naming the value
  // Registers `t` (CPU, any layout) under `name` and records its ValueInfo.
  void add_initializer(const std::string& name, const Tensor& t);
  void erase_initializer(const std::string& name);
  const std::map<std::string, Tensor>& initializers() const { return initializers_; }
  int64_t initializer_bytes() const;

  bool is_graph_input(const std::string& name) const;
  bool is_graph_output(const std::string& name) const;

  // Index of the node producing `name`, or -1 (graph input, initializer, unknown).
  int producer(const std::string& name) const;
  // Number of node inputs plus graph outputs that read `name`.
  int use_count(const std::string& name) const;
  // Renames value `from` to `to` everywhere (producer, readers, graph outputs, value table).
  void rename_value(const std::string& from, const std::string& to);
  // Every read of `from` (node inputs and graph outputs) reads `to` instead.
  void replace_uses(const std::string& from, const std::string& to);

  // Checks the invariants: unique producers, topological order, known values. Throws ff::Error
  // naming the first node at fault.
  void validate() const;

  // Number of nodes per op, e.g. {"conv2d": 53, "add": 24}.
  std::map<std::string, int> op_histogram() const;

  // Human-readable listing: inputs, initializers (shape only), one line per node, outputs.
  std::string str() const;

 private:
  std::map<std::string, ValueInfo> values_;
  std::map<std::string, Tensor> initializers_;
};

std::string attr_str(const AttrValue& v);

// {h, w} parameter pairs (stride, padding, ...) as an int-list attribute.
inline std::vector<int64_t> pair_ints(const std::array<int64_t, 2>& p) { return {p[0], p[1]}; }

}  // namespace ff::graph
