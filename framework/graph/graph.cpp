#include "framework/graph/graph.h"

#include <set>
#include <sstream>

#include "framework/common/check.h"

namespace ff::graph {

// ---- attributes ---------------------------------------------------------------------------------
namespace {
template <typename T>
const T& get_attr(const Node& n, const std::string& key, const char* kind) {
  auto it = n.attrs.find(key);
  FF_CHECK(it != n.attrs.end(), "node '{}' ({}): missing attribute '{}'", n.name, n.op, key);
  const T* v = std::get_if<T>(&it->second);
  FF_CHECK(v != nullptr, "node '{}' ({}): attribute '{}' is {}, expected {}", n.name, n.op, key,
           attr_str(it->second), kind);
  return *v;
}
}  // namespace

int64_t Node::attr_int(const std::string& key) const { return get_attr<int64_t>(*this, key, "an int"); }
double Node::attr_float(const std::string& key) const { return get_attr<double>(*this, key, "a float"); }
const std::vector<int64_t>& Node::attr_ints(const std::string& key) const {
  return get_attr<std::vector<int64_t>>(*this, key, "an int list");
}
const std::string& Node::attr_string(const std::string& key) const {
  return get_attr<std::string>(*this, key, "a string");
}
std::optional<double> Node::attr_float_opt(const std::string& key) const {
  if (!has_attr(key)) return std::nullopt;
  return attr_float(key);
}

std::string attr_str(const AttrValue& v) {
  struct Printer {
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return fmt::format("{}", d); }
    std::string operator()(const std::vector<int64_t>& l) const { return fmt::format("[{}]", fmt::join(l, ", ")); }
    std::string operator()(const std::vector<double>& l) const { return fmt::format("[{}]", fmt::join(l, ", ")); }
    std::string operator()(const std::string& s) const { return "\"" + s + "\""; }
  };
  return std::visit(Printer{}, v);
}

// ---- values and initializers ----------------------------------------------------------------------
const ValueInfo& Graph::value(const std::string& name) const {
  auto it = values_.find(name);
  FF_CHECK(it != values_.end(), "graph: unknown value '{}'", name);
  return it->second;
}

std::string Graph::unique_name(const std::string& hint) const {
  if (!values_.count(hint) && !initializers_.count(hint)) return hint;
  for (int k = 1;; ++k) {
    std::string name = fmt::format("{}_{}", hint, k);
    if (!values_.count(name) && !initializers_.count(name)) return name;
  }
}

const Tensor& Graph::initializer(const std::string& name) const {
  auto it = initializers_.find(name);
  FF_CHECK(it != initializers_.end(), "graph: '{}' is not an initializer", name);
  return it->second;
}

void Graph::add_initializer(const std::string& name, const Tensor& t) {
  FF_CHECK(t.defined(), "graph: initializer '{}' is an undefined tensor", name);
  FF_CHECK(t.device().is_cpu(), "graph: initializer '{}' must live on the CPU, got {}", name, t.describe());
  FF_CHECK(!initializers_.count(name), "graph: duplicate initializer '{}'", name);
  initializers_[name] = t;
  values_[name] = ValueInfo{name, t.sizes(), t.dtype()};
}

void Graph::erase_initializer(const std::string& name) {
  initializers_.erase(name);
  values_.erase(name);
}

int64_t Graph::initializer_bytes() const {
  int64_t bytes = 0;
  for (const auto& [name, t] : initializers_) bytes += t.numel() * static_cast<int64_t>(t.element_size());
  return bytes;
}

bool Graph::is_graph_input(const std::string& name) const {
  for (const auto& v : inputs)
    if (v.name == name) return true;
  return false;
}

bool Graph::is_graph_output(const std::string& name) const {
  for (const auto& v : outputs)
    if (v.name == name) return true;
  return false;
}

// ---- structure ------------------------------------------------------------------------------------
int Graph::producer(const std::string& name) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs)
      if (o == name) return static_cast<int>(i);
  return -1;
}

int Graph::use_count(const std::string& name) const {
  int n = 0;
  for (const auto& node : nodes)
    for (const auto& in : node.inputs) n += in == name;
  for (const auto& v : outputs) n += v.name == name;
  return n;
}

void Graph::replace_uses(const std::string& from, const std::string& to) {
  for (auto& node : nodes)
    for (auto& in : node.inputs)
      if (in == from) in = to;
  for (auto& v : outputs)
    if (v.name == from) v.name = to;
}

void Graph::rename_value(const std::string& from, const std::string& to) {
  FF_CHECK(!is_initializer(from) && !is_graph_input(from), "graph: cannot rename input/initializer '{}'", from);
  replace_uses(from, to);
  for (auto& node : nodes)
    for (auto& o : node.outputs)
      if (o == from) o = to;
  ValueInfo v = value(from);
  values_.erase(from);
  v.name = to;
  values_[to] = v;
}

void Graph::validate() const {
  std::set<std::string> defined;
  for (const auto& v : inputs) {
    FF_CHECK(defined.insert(v.name).second, "graph: input '{}' defined twice", v.name);
    FF_CHECK(has_value(v.name), "graph: input '{}' has no value info", v.name);
  }
  for (const auto& [name, t] : initializers_)
    FF_CHECK(defined.insert(name).second, "graph: initializer '{}' is also a graph input", name);
  std::set<std::string> node_names;
  for (const auto& node : nodes) {
    FF_CHECK(node_names.insert(node.name).second, "graph: node name '{}' used twice", node.name);
    for (const auto& in : node.inputs)
      FF_CHECK(in.empty() || defined.count(in), "graph: node '{}' ({}) reads '{}' before it is produced",
               node.name, node.op, in);
    for (const auto& o : node.outputs) {
      FF_CHECK(defined.insert(o).second, "graph: node '{}' ({}) produces '{}', which is already defined",
               node.name, node.op, o);
      FF_CHECK(has_value(o), "graph: node '{}' output '{}' has no value info", node.name, o);
    }
  }
  for (const auto& v : outputs) FF_CHECK(defined.count(v.name), "graph: output '{}' is never produced", v.name);
}

std::map<std::string, int> Graph::op_histogram() const {
  std::map<std::string, int> h;
  for (const auto& n : nodes) ++h[n.op];
  return h;
}

std::string Graph::str() const {
  std::ostringstream os;
  auto info = [&](const std::string& name) {
    if (name.empty()) return std::string("<none>");
    if (!has_value(name)) return name + ":?";
    const ValueInfo& v = value(name);
    return fmt::format("{}:{}{}", name, dtype_name(v.dtype), shape_str(v.shape));
  };
  for (const auto& v : inputs) os << "input " << info(v.name) << "\n";
  for (const auto& [name, t] : initializers_) os << "initializer " << info(name) << "\n";
  for (const auto& n : nodes) {
    std::vector<std::string> ins, outs, attrs;
    for (const auto& i : n.inputs) ins.push_back(info(i));
    for (const auto& o : n.outputs) outs.push_back(info(o));
    for (const auto& [k, v] : n.attrs) attrs.push_back(k + "=" + attr_str(v));
    os << fmt::format("{} = {}({}) {{{}}}  # {}\n", fmt::join(outs, ", "), n.op, fmt::join(ins, ", "),
                      fmt::join(attrs, ", "), n.name);
  }
  for (const auto& v : outputs) os << "output " << info(v.name) << "\n";
  return os.str();
}

}  // namespace ff::graph
