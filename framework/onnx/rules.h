// ONNX export rules: one per exportable FaceFlow op, translating a graph::Node into ONNX nodes
// for opsets 13..17. The registry self-test (tests/gradcheck) requires a rule for every op
// registered with kOnnxExportable.
//
// A rule reads the node (attributes, input/output value infos) and emits ONNX nodes through
// the RuleContext, which also creates constant initializers (shapes, axes, scalars) and fresh
// value names. The node's output names must be produced under the same names.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "framework/graph/graph.h"
#include "framework/onnx/onnx_model.h"

namespace ff::onnx {

class RuleContext {
 public:
  RuleContext(const graph::Graph& g, const graph::Node& node, OnnxModel& model, std::set<std::string>& used_names);

  const graph::Node& node;
  int opset() const { return model_.opset; }

  const std::string& input(size_t i) const;   // throws naming the node when missing
  bool has_input(size_t i) const { return i < node.inputs.size() && !node.inputs[i].empty(); }
  const std::string& output(size_t i) const;
  const graph::ValueInfo& input_info(size_t i) const;
  const graph::ValueInfo& output_info(size_t i) const;
  bool is_initializer(const std::string& name) const { return graph_.is_initializer(name); }
  const Tensor& initializer(const std::string& name) const { return graph_.initializer(name); }

  // A value name not used anywhere yet, derived from the node's name.
  std::string fresh(const std::string& suffix);
  // Constant initializers: int64 1-D (or a 0-d scalar), and a 0-d scalar of `dtype`.
  std::string const_ints(const std::vector<int64_t>& values, const std::string& suffix);
  std::string const_int_scalar(int64_t value, const std::string& suffix);
  std::string const_scalar(double value, DType dtype, const std::string& suffix);
  std::string add_initializer(const Tensor& t, const std::string& suffix);

  // Emits one ONNX node; `outputs` empty = one fresh output, returned.
  std::string emit(const std::string& op_type, const std::vector<std::string>& inputs,
                   std::vector<std::string> outputs = {}, graph::Attributes attrs = {});
  // `name` converted to `to` (a Cast node) unless it already has that dtype.
  std::string cast_to(const std::string& name, DType from, DType to);

  // Throws ff::Error naming the node, its op and the opset.
  [[noreturn]] void fail(const std::string& why) const;

 private:
  const graph::Graph& graph_;
  OnnxModel& model_;
  std::set<std::string>& used_;
};

using Rule = std::function<void(RuleContext& ctx)>;
using RuleTable = std::map<std::string, Rule>;

// op name -> rule, for every op FaceFlow can export.
const RuleTable& onnx_rules();

// Per-group registration (rules_nn.cpp, rules_math.cpp, rules_shape.cpp).
void add_nn_rules(RuleTable& table);
void add_math_rules(RuleTable& table);
void add_shape_rules(RuleTable& table);

struct ExportOptions {
  int opset = kMaxOpset;       // 13..17
  bool dynamic_batch = false;  // dim 0 of the inputs (and of outputs of that size) becomes `batch_param`
  std::string batch_param = "N";
};

// Translates a graph (after the inference passes) into an ONNX model. Throws ff::Error naming
// the first node without a rule or that its rule refuses (training-mode batch_norm, ...).
OnnxModel convert_to_onnx(const graph::Graph& g, const ExportOptions& options);

}  // namespace ff::onnx
