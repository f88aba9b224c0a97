#include "framework/graph/passes.h"

#include <cmath>
#include <set>

#include "framework/common/check.h"

namespace ff::graph {

namespace {

// Removes node `index` whose output 0 equals its input 0. Returns false (and keeps the node)
// when that cannot be expressed by renaming: the output is a graph output and the input is a
// graph input, an initializer or another graph output.
bool bypass(Graph& g, size_t index) {
  const std::string in = g.nodes[index].inputs[0];
  const std::string out = g.nodes[index].outputs[0];
  if (g.is_graph_output(out)) {
    if (g.producer(in) < 0 || g.is_graph_output(in)) return false;
    g.nodes.erase(g.nodes.begin() + static_cast<long>(index));
    g.erase_value(out);
    g.rename_value(in, out);
    return true;
  }
  g.replace_uses(out, in);
  g.nodes.erase(g.nodes.begin() + static_cast<long>(index));
  g.erase_value(out);
  return true;
}

template <typename Pred>
int bypass_matching(Graph& g, Pred is_identity) {
  int removed = 0;
  for (size_t i = 0; i < g.nodes.size();) {
    const Node& n = g.nodes[i];
    if (n.outputs.size() == 1 && !n.inputs.empty() && !n.inputs[0].empty() && is_identity(g, n) && bypass(g, i)) {
      ++removed;
    } else {
      ++i;
    }
  }
  return removed;
}

// Contiguous float64 copy of an initializer (for the folding arithmetic).
std::vector<double> as_doubles(const Graph& g, const std::string& name) {
  Tensor t = g.initializer(name).to(DType::Float64).contiguous();
  const double* p = t.data<double>();
  return std::vector<double>(p, p + t.numel());
}

// An omitted operand ("") reads as `channels` copies of `fill` (BN without affine, conv without bias).
std::vector<double> as_doubles_or(const Graph& g, const std::string& name, int64_t channels, double fill) {
  return name.empty() ? std::vector<double>(static_cast<size_t>(channels), fill) : as_doubles(g, name);
}

Tensor from_doubles(const std::vector<double>& v, const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, DType::Float64);
  std::copy(v.begin(), v.end(), t.data<double>());
  return t.to(dtype);
}

bool all_initializers(const Graph& g, const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (!n.empty() && !g.is_initializer(n)) return false;
  return true;
}

}  // namespace

int remove_dropout(Graph& g) {
  return bypass_matching(g, [](const Graph&, const Node& n) {
    return n.op == "dropout" && (n.attr_int("training") == 0 || n.attr_float("p") == 0.0);
  });
}

int remove_identities(Graph& g) {
  return bypass_matching(g, [](const Graph& g, const Node& n) {
    const ValueInfo& in = g.value(n.inputs[0]);
    const ValueInfo& out = g.value(n.outputs[0]);
    if (n.op == "cast") return in.dtype == out.dtype;
    if (n.op == "reshape" || n.op == "expand") return in.shape == out.shape;
    if (n.op == "permute") {
      const auto& perm = n.attr_ints("perm");
      for (size_t i = 0; i < perm.size(); ++i)
        if (perm[i] != static_cast<int64_t>(i)) return false;
      return true;
    }
    if (n.op == "slice") return in.shape == out.shape && n.attr_int("step") == 1;
    return false;
  });
}

int fold_batch_norm(Graph& g) {
  int folded = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& bn = g.nodes[i];
    if (bn.op != "batch_norm" || bn.attr_int("training") != 0) continue;
    const int p = g.producer(bn.inputs[0]);
    if (p < 0) continue;
    Node& prod = g.nodes[static_cast<size_t>(p)];
    const bool is_conv = prod.op == "conv2d";
    const bool is_linear = prod.op == "linear" && g.value(prod.inputs[0]).shape.size() == 2;
    if (!is_conv && !is_linear) continue;
    if (g.use_count(prod.outputs[0]) != 1 || g.is_graph_output(prod.outputs[0])) continue;
    const std::string w_name = prod.inputs[1];
    const std::string b_name = prod.inputs.size() > 2 ? prod.inputs[2] : "";
    // BN inputs: x, weight, bias, running_mean, running_var (weight/bias may be omitted).
    if (!all_initializers(g, {w_name, b_name, bn.inputs[1], bn.inputs[2], bn.inputs[3], bn.inputs[4]})) continue;
    if (bn.inputs[3].empty() || bn.inputs[4].empty()) continue;

    const Tensor& w = g.initializer(w_name);
    const int64_t channels = w.size(0);
    const std::vector<double> mean = as_doubles(g, bn.inputs[3]);
    const std::vector<double> var = as_doubles(g, bn.inputs[4]);
    const std::vector<double> gamma = as_doubles_or(g, bn.inputs[1], channels, 1.0);
    const std::vector<double> beta = as_doubles_or(g, bn.inputs[2], channels, 0.0);
    std::vector<double> bias = as_doubles_or(g, b_name, channels, 0.0);
    FF_CHECK(mean.size() == static_cast<size_t>(channels) && var.size() == mean.size() && gamma.size() == mean.size() &&
                 beta.size() == mean.size() && bias.size() == mean.size(),
             "fold_batch_norm: node '{}' has {} channels but '{}' produces {}", bn.name, mean.size(), prod.name,
             channels);
    const double eps = bn.attr_float("eps");
    std::vector<double> weight = as_doubles(g, w_name);
    const size_t per_channel = weight.size() / static_cast<size_t>(channels);
    for (int64_t c = 0; c < channels; ++c) {
      const double s = gamma[c] / std::sqrt(var[c] + eps);
      for (size_t k = 0; k < per_channel; ++k) weight[c * per_channel + k] *= s;
      bias[c] = (bias[c] - mean[c]) * s + beta[c];
    }
    const std::string new_w = g.unique_name(w_name + "_bnfolded");
    g.add_initializer(new_w, from_doubles(weight, w.sizes(), w.dtype()));
    const std::string new_b = g.unique_name((b_name.empty() ? prod.name + ".bias" : b_name) + "_bnfolded");
    g.add_initializer(new_b, from_doubles(bias, {channels}, w.dtype()));
    prod.inputs.resize(3);
    prod.inputs[1] = new_w;
    prod.inputs[2] = new_b;
    // The conv now produces the BN's output value directly.
    const std::string bn_out = bn.outputs[0];
    const std::string old_out = prod.outputs[0];
    g.erase_value(old_out);
    prod.outputs[0] = bn_out;
    g.nodes.erase(g.nodes.begin() + static_cast<long>(i));
    --i;
    ++folded;
  }
  if (folded) eliminate_dead_code(g);
  return folded;
}

int eliminate_dead_code(Graph& g) {
  int removed = 0;
  std::set<std::string> live;
  for (const auto& v : g.outputs) live.insert(v.name);
  std::vector<Node> kept;
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const Node& n = g.nodes[i];
    bool used = false;
    for (const auto& o : n.outputs) used = used || live.count(o);
    if (!used) {
      for (const auto& o : n.outputs) g.erase_value(o);
      ++removed;
      continue;
    }
    for (const auto& in : n.inputs) live.insert(in);
    kept.push_back(n);
  }
  g.nodes.assign(kept.rbegin(), kept.rend());
  std::vector<std::string> unused;
  for (const auto& [name, t] : g.initializers())
    if (!live.count(name)) unused.push_back(name);
  for (const auto& name : unused) g.erase_initializer(name);
  return removed;
}

void run_inference_passes(Graph& g, const PassOptions& options) {
  remove_dropout(g);
  remove_identities(g);
  if (options.fold_bn) fold_batch_norm(g);
  eliminate_dead_code(g);
  g.validate();
}

}  // namespace ff::graph
