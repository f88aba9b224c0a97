#include "framework/graph/interpreter.h"

#include "framework/common/check.h"
#include "ops/activation/activation.h"
#include "ops/conv/conv2d.h"
#include "ops/elementwise/binary.h"
#include "ops/elementwise/unary.h"
#include "ops/index/index.h"
#include "ops/linalg/matmul.h"
#include "ops/norm/batch_norm.h"
#include "ops/norm/l2_normalize.h"
#include "ops/pool/pool.h"
#include "ops/reduce/reduce.h"
#include "ops/shape/shape.h"
#include "ops/softmax/softmax.h"
#include "ops/tensor_ops/copy.h"

namespace ff::graph {

namespace {

using Inputs = std::vector<Tensor>;
using Outputs = std::vector<Tensor>;

std::array<int64_t, 2> pair_attr(const Node& n, const char* key) {
  const auto& v = n.attr_ints(key);
  FF_CHECK(v.size() == 2, "node '{}' ({}): attribute '{}' needs 2 values, got {}", n.name, n.op, key, v.size());
  return {v[0], v[1]};
}

Pool2dParams pool_params(const Node& n) {
  Pool2dParams p;
  p.kernel = pair_attr(n, "kernel");
  p.stride = pair_attr(n, "stride");
  p.padding = pair_attr(n, "padding");
  p.ceil_mode = n.attr_int("ceil_mode") != 0;
  return p;
}

// A traced target shape whose leading dims equal the traced input's takes those dims from the
// actual input instead, so a graph traced at batch 1 replays at any batch.
Shape retarget(const Shape& traced_out, const Shape& traced_in, const Shape& actual_in) {
  Shape out = traced_out;
  for (size_t i = 0; i < out.size() && i < traced_in.size() && i < actual_in.size(); ++i) {
    if (traced_in[i] != traced_out[i]) break;
    out[i] = actual_in[i];
  }
  return out;
}

template <typename Fn>
ReplayFn binary(Fn fn) {
  return [fn](const Node&, const Inputs& in) -> Outputs { return {fn(in[0], in[1])}; };
}

template <typename Fn>
ReplayFn unary(Fn fn) {
  return [fn](const Node&, const Inputs& in) -> Outputs { return {fn(in[0])}; };
}

std::map<std::string, ReplayFn> make_table() {
  std::map<std::string, ReplayFn> t;
  // ---- nn ----
  t["conv2d"] = [](const Node& n, const Inputs& in) -> Outputs {
    Conv2dParams p;
    p.stride = pair_attr(n, "stride");
    p.padding = pair_attr(n, "padding");
    p.dilation = pair_attr(n, "dilation");
    p.groups = n.attr_int("groups");
    return {conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p)};
  };
  t["batch_norm"] = [](const Node& n, const Inputs& in) -> Outputs {
    FF_CHECK(n.attr_int("training") == 0, "run_graph: node '{}' is a training-mode batch_norm", n.name);
    return {batch_norm(in[0], in[1], in[2], in[3], in[4], false, n.attr_float("momentum"), n.attr_float("eps"))};
  };
  t["relu"] = unary([](const Tensor& x) { return relu(x); });
  t["prelu"] = binary([](const Tensor& x, const Tensor& w) { return prelu(x, w); });
  t["dropout"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {dropout(in[0], n.attr_float("p"), n.attr_int("training") != 0)};
  };
  t["linear"] = [](const Node&, const Inputs& in) -> Outputs {
    return {linear(in[0], in[1], in.size() > 2 ? in[2] : Tensor())};
  };
  t["matmul"] = binary([](const Tensor& a, const Tensor& b) { return matmul(a, b); });
  t["l2_normalize"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {l2_normalize(in[0], n.attr_int("dim"), n.attr_float("eps"))};
  };
  t["max_pool2d"] = [](const Node& n, const Inputs& in) -> Outputs { return {max_pool2d(in[0], pool_params(n))}; };
  t["avg_pool2d"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {avg_pool2d(in[0], pool_params(n), n.attr_int("count_include_pad") != 0)};
  };
  t["global_avg_pool2d"] = unary([](const Tensor& x) { return global_avg_pool2d(x); });
  t["softmax"] = [](const Node& n, const Inputs& in) -> Outputs { return {softmax(in[0], n.attr_int("dim"))}; };
  t["log_softmax"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {log_softmax(in[0], n.attr_int("dim"))};
  };
  // ---- elementwise ----
  t["add"] = binary([](const Tensor& a, const Tensor& b) { return add(a, b); });
  t["sub"] = binary([](const Tensor& a, const Tensor& b) { return sub(a, b); });
  t["mul"] = binary([](const Tensor& a, const Tensor& b) { return mul(a, b); });
  t["div"] = binary([](const Tensor& a, const Tensor& b) { return div(a, b); });
  t["maximum"] = binary([](const Tensor& a, const Tensor& b) { return maximum(a, b); });
  t["minimum"] = binary([](const Tensor& a, const Tensor& b) { return minimum(a, b); });
  t["pow"] = binary([](const Tensor& a, const Tensor& b) { return pow(a, b); });
  t["eq"] = binary([](const Tensor& a, const Tensor& b) { return eq(a, b); });
  t["ne"] = binary([](const Tensor& a, const Tensor& b) { return ne(a, b); });
  t["lt"] = binary([](const Tensor& a, const Tensor& b) { return lt(a, b); });
  t["le"] = binary([](const Tensor& a, const Tensor& b) { return le(a, b); });
  t["gt"] = binary([](const Tensor& a, const Tensor& b) { return gt(a, b); });
  t["ge"] = binary([](const Tensor& a, const Tensor& b) { return ge(a, b); });
  t["neg"] = unary([](const Tensor& x) { return neg(x); });
  t["exp"] = unary([](const Tensor& x) { return exp(x); });
  t["log"] = unary([](const Tensor& x) { return log(x); });
  t["sqrt"] = unary([](const Tensor& x) { return sqrt(x); });
  t["rsqrt"] = unary([](const Tensor& x) { return rsqrt(x); });
  t["abs"] = unary([](const Tensor& x) { return abs(x); });
  t["acos"] = unary([](const Tensor& x) { return acos(x); });
  t["cos"] = unary([](const Tensor& x) { return cos(x); });
  t["sin"] = unary([](const Tensor& x) { return sin(x); });
  t["pow_scalar"] = [](const Node& n, const Inputs& in) -> Outputs { return {pow(in[0], n.attr_float("exponent"))}; };
  t["clamp"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {clamp(in[0], n.attr_float_opt("lo"), n.attr_float_opt("hi"))};
  };
  t["where"] = [](const Node&, const Inputs& in) -> Outputs { return {where(in[0], in[1], in[2])}; };
  t["cast"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {cast(in[0], static_cast<DType>(n.attr_int("dtype")))};
  };
  // ---- reductions ----
  auto reduction = [](Tensor (*fn)(const Tensor&, const std::vector<int64_t>&, bool)) -> ReplayFn {
    return [fn](const Node& n, const Inputs& in) -> Outputs {
      return {fn(in[0], n.attr_ints("dims"), n.attr_int("keepdim") != 0)};
    };
  };
  t["sum"] = reduction(&sum);
  t["mean"] = reduction(&mean);
  t["max"] = reduction(&max);
  t["min"] = reduction(&min);
  t["argmax"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {argmax(in[0], n.attr_int("dim"), n.attr_int("keepdim") != 0)};
  };
  t["argmin"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {argmin(in[0], n.attr_int("dim"), n.attr_int("keepdim") != 0)};
  };
  // ---- index ----
  t["index_select"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {index_select(in[0], n.attr_int("dim"), in[1])};
  };
  t["gather"] = [](const Node& n, const Inputs& in) -> Outputs { return {gather(in[0], n.attr_int("dim"), in[1])}; };
  t["scatter_add"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {scatter_add(in[0], n.attr_int("dim"), in[1], in[2])};
  };
  t["one_hot"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {one_hot(in[0], n.attr_int("num_classes"), static_cast<DType>(n.attr_int("dtype")))};
  };
  // ---- shape ----
  t["concat"] = [](const Node& n, const Inputs& in) -> Outputs { return {concat(in, n.attr_int("dim"))}; };
  t["stack"] = [](const Node& n, const Inputs& in) -> Outputs { return {stack(in, n.attr_int("dim"))}; };
  t["split"] = [](const Node& n, const Inputs& in) -> Outputs {
    return split(in[0], n.attr_ints("sizes"), n.attr_int("dim"));
  };
  t["reshape"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {in[0].reshape(retarget(n.attr_ints("shape"), n.attr_ints("input_shape"), in[0].sizes()))};
  };
  t["expand"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {in[0].expand(retarget(n.attr_ints("shape"), n.attr_ints("input_shape"), in[0].sizes()))};
  };
  t["slice"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {in[0].slice(n.attr_int("dim"), n.attr_int("start"), n.attr_int("end"), n.attr_int("step"))};
  };
  t["select"] = [](const Node& n, const Inputs& in) -> Outputs {
    return {in[0].select(n.attr_int("dim"), n.attr_int("index"))};
  };
  t["permute"] = [](const Node& n, const Inputs& in) -> Outputs { return {in[0].permute(n.attr_ints("perm"))}; };
  return t;
}

}  // namespace

const std::map<std::string, ReplayFn>& replay_functions() {
  static const std::map<std::string, ReplayFn> table = make_table();
  return table;
}

std::vector<Tensor> run_graph(const Graph& g, const std::map<std::string, Tensor>& inputs) {
  std::map<std::string, Tensor> env;
  for (const auto& v : g.inputs) {
    auto it = inputs.find(v.name);
    FF_CHECK(it != inputs.end(), "run_graph: graph input '{}' was not given", v.name);
    const Tensor& x = it->second;
    FF_CHECK(x.defined() && x.dim() == static_cast<int64_t>(v.shape.size()) && x.dtype() == v.dtype,
             "run_graph: input '{}' must be {}{} (any sizes), got {}", v.name, dtype_name(v.dtype), shape_str(v.shape),
             x.describe());
    env[v.name] = x;
  }
  for (const auto& [name, t] : g.initializers()) env[name] = t;
  const auto& table = replay_functions();
  for (const Node& n : g.nodes) {
    auto fn = table.find(n.op);
    FF_CHECK(fn != table.end(), "run_graph: no replay function for op '{}' (node '{}')", n.op, n.name);
    std::vector<Tensor> args;
    for (const auto& in : n.inputs) {
      if (in.empty()) {
        args.emplace_back();
        continue;
      }
      auto v = env.find(in);
      FF_CHECK(v != env.end(), "run_graph: node '{}' reads '{}' before it is computed", n.name, in);
      args.push_back(v->second);
    }
    std::vector<Tensor> outs = fn->second(n, args);
    FF_CHECK(outs.size() == n.outputs.size(), "run_graph: node '{}' ({}) returned {} outputs, graph has {}", n.name,
             n.op, outs.size(), n.outputs.size());
    for (size_t i = 0; i < outs.size(); ++i) env[n.outputs[i]] = outs[i];
  }
  std::vector<Tensor> result;
  for (const auto& v : g.outputs) result.push_back(env.at(v.name));
  return result;
}

}  // namespace ff::graph
