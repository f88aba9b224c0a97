#include "framework/onnx/rules.h"

#include <iterator>
#include <set>

#include "framework/common/check.h"
#include "ops/tensor_ops/fill.h"

namespace ff::onnx {

// ---- OnnxModel ------------------------------------------------------------------------------------
std::map<std::string, int> OnnxModel::op_histogram() const {
  std::map<std::string, int> h;
  for (const auto& n : nodes) ++h[n.op_type];
  return h;
}

int64_t OnnxModel::initializer_bytes() const {
  int64_t bytes = 0;
  for (const auto& [name, t] : initializers) bytes += t.numel() * static_cast<int64_t>(t.element_size());
  return bytes;
}

int onnx_data_type(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 1;
    case DType::UInt8: return 2;
    case DType::Int32: return 6;
    case DType::Int64: return 7;
    case DType::Bool: return 9;
    case DType::Float16: return 10;
    case DType::Float64: return 11;
    case DType::BFloat16: return 16;
  }
  FF_THROW("onnx: dtype {} has no ONNX data type", dtype_name(dtype));
}

// ---- RuleContext ------------------------------------------------------------------------------------
RuleContext::RuleContext(const graph::Graph& g, const graph::Node& n, OnnxModel& model, std::set<std::string>& used)
    : node(n), graph_(g), model_(model), used_(used) {}

const std::string& RuleContext::input(size_t i) const {
  if (!has_input(i)) fail(fmt::format("input {} is missing", i));
  return node.inputs[i];
}

const std::string& RuleContext::output(size_t i) const {
  if (i >= node.outputs.size()) fail(fmt::format("output {} is missing", i));
  return node.outputs[i];
}

const graph::ValueInfo& RuleContext::input_info(size_t i) const { return graph_.value(input(i)); }
const graph::ValueInfo& RuleContext::output_info(size_t i) const { return graph_.value(output(i)); }

std::string RuleContext::fresh(const std::string& suffix) {
  std::string base = node.name + "/" + suffix;
  std::string name = base;
  for (int k = 1; used_.count(name); ++k) name = fmt::format("{}_{}", base, k);
  used_.insert(name);
  return name;
}

std::string RuleContext::add_initializer(const Tensor& t, const std::string& suffix) {
  const std::string name = fresh(suffix);
  model_.initializers[name] = t.contiguous();
  return name;
}

std::string RuleContext::const_ints(const std::vector<int64_t>& values, const std::string& suffix) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, DType::Int64);
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return add_initializer(t, suffix);
}

std::string RuleContext::const_int_scalar(int64_t value, const std::string& suffix) {
  Tensor t = Tensor::empty({}, DType::Int64);
  *t.data<int64_t>() = value;
  return add_initializer(t, suffix);
}

std::string RuleContext::const_scalar(double value, DType dtype, const std::string& suffix) {
  return add_initializer(full({}, value, dtype), suffix);
}

std::string RuleContext::emit(const std::string& op_type, const std::vector<std::string>& inputs,
                              std::vector<std::string> outputs, graph::Attributes attrs) {
  if (outputs.empty()) outputs.push_back(fresh(op_type));
  OnnxNode n;
  n.name = fresh(op_type + "_node");
  n.op_type = op_type;
  n.inputs = inputs;
  n.outputs = outputs;
  n.attrs = std::move(attrs);
  for (const auto& o : n.outputs) used_.insert(o);
  model_.nodes.push_back(std::move(n));
  return outputs[0];
}

std::string RuleContext::cast_to(const std::string& name, DType from, DType to) {
  if (from == to) return name;
  return emit("Cast", {name}, {}, {{"to", int64_t{onnx_data_type(to)}}});
}

void RuleContext::fail(const std::string& why) const {
  FF_THROW("ONNX export (opset {}): node '{}' (op {}): {}", model_.opset, node.name, node.op, why);
}

// ---- table and conversion -------------------------------------------------------------------------------
const RuleTable& onnx_rules() {
  static const RuleTable table = [] {
    RuleTable t;
    add_nn_rules(t);
    add_math_rules(t);
    add_shape_rules(t);
    return t;
  }();
  return table;
}

namespace {
OnnxValue make_value(const graph::ValueInfo& v, const ExportOptions& o, int64_t batch) {
  OnnxValue out{v.name, v.dtype, v.shape, std::vector<std::string>(v.shape.size())};
  if (o.dynamic_batch && !v.shape.empty() && v.shape[0] == batch) out.dim_params[0] = o.batch_param;
  return out;
}
}  // namespace

OnnxModel convert_to_onnx(const graph::Graph& g, const ExportOptions& options) {
  FF_CHECK(options.opset >= kMinOpset && options.opset <= kMaxOpset, "ONNX export: opset {} not supported (use {}..{})",
           options.opset, kMinOpset, kMaxOpset);
  FF_CHECK(!g.inputs.empty() && !g.outputs.empty(), "ONNX export: the graph needs inputs and outputs");
  OnnxModel model;
  model.opset = options.opset;
  const int64_t batch = g.inputs[0].shape.empty() ? -1 : g.inputs[0].shape[0];
  for (const auto& v : g.inputs) model.inputs.push_back(make_value(v, options, batch));
  for (const auto& v : g.outputs) model.outputs.push_back(make_value(v, options, batch));
  std::set<std::string> used;
  for (const auto& v : g.inputs) used.insert(v.name);
  for (const auto& [name, t] : g.initializers()) {
    used.insert(name);
    model.initializers[name] = t.contiguous();
  }
  for (const auto& n : g.nodes) {
    used.insert(n.name);
    for (const auto& o : n.outputs) used.insert(o);
  }
  const RuleTable& rules = onnx_rules();
  for (const auto& n : g.nodes) {
    auto it = rules.find(n.op);
    FF_CHECK(it != rules.end(), "ONNX export: node '{}' uses op '{}', which has no ONNX export rule", n.name, n.op);
    RuleContext ctx(g, n, model, used);
    it->second(ctx);
  }
  // Rules may replace an initializer by a rewritten copy (PRelu's [C, 1, 1] slope); drop the
  // originals nothing reads any more.
  std::set<std::string> read;
  for (const auto& n : model.nodes) read.insert(n.inputs.begin(), n.inputs.end());
  for (auto it = model.initializers.begin(); it != model.initializers.end();) {
    it = read.count(it->first) ? std::next(it) : model.initializers.erase(it);
  }
  return model;
}

}  // namespace ff::onnx
