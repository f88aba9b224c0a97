// ONNX rules for the layer ops: conv2d, batch_norm, relu, prelu, dropout, linear, matmul,
// l2_normalize, pooling, softmax.
#include "framework/common/check.h"
#include "framework/onnx/rules.h"
#include "ops/tensor_ops/fill.h"

namespace ff::onnx {

namespace {

std::vector<int64_t> ints(const graph::Node& n, const char* key) { return n.attr_ints(key); }

// [p0, p1] -> ONNX pads [p0, p1, p0, p1] (begins, then ends).
std::vector<int64_t> symmetric_pads(const std::vector<int64_t>& p) { return {p[0], p[1], p[0], p[1]}; }

void conv2d_rule(RuleContext& ctx) {
  const graph::ValueInfo& w = ctx.input_info(1);
  std::vector<std::string> inputs = {ctx.input(0), ctx.input(1)};
  if (ctx.has_input(2)) inputs.push_back(ctx.input(2));
  ctx.emit("Conv", inputs, {ctx.output(0)},
           {{"kernel_shape", std::vector<int64_t>{w.shape[2], w.shape[3]}},
            {"strides", ints(ctx.node, "stride")},
            {"pads", symmetric_pads(ints(ctx.node, "padding"))},
            {"dilations", ints(ctx.node, "dilation")},
            {"group", ctx.node.attr_int("groups")}});
}

void batch_norm_rule(RuleContext& ctx) {
  if (ctx.node.attr_int("training") != 0)
    ctx.fail("training-mode batch normalisation cannot be exported; put the model in eval mode");
  if (!ctx.has_input(3) || !ctx.has_input(4)) ctx.fail("eval-mode batch_norm needs running statistics");
  const graph::ValueInfo& x = ctx.input_info(0);
  const graph::ValueInfo& mean = ctx.input_info(3);
  const int64_t channels = x.shape[1];
  // BatchNormalization before v15 wants every operand in X's type.
  const DType param_dtype = ctx.opset() >= 15 ? mean.dtype : x.dtype;
  auto param = [&](size_t i, double fill, const char* what) {
    if (!ctx.has_input(i)) return ctx.add_initializer(full({channels}, fill, param_dtype), what);
    return ctx.cast_to(ctx.input(i), ctx.input_info(i).dtype, param_dtype);
  };
  const std::string scale = param(1, 1.0, "scale");
  const std::string bias = param(2, 0.0, "bias");
  const std::string m = ctx.cast_to(ctx.input(3), mean.dtype, param_dtype);
  const std::string v = ctx.cast_to(ctx.input(4), ctx.input_info(4).dtype, param_dtype);
  // ONNX's momentum weighs the old running value; ours weighs the new batch statistic.
  ctx.emit("BatchNormalization", {ctx.input(0), scale, bias, m, v}, {ctx.output(0)},
           {{"epsilon", ctx.node.attr_float("eps")}, {"momentum", 1.0 - ctx.node.attr_float("momentum")}});
}

void prelu_rule(RuleContext& ctx) {
  const graph::ValueInfo& x = ctx.input_info(0);
  const graph::ValueInfo& w = ctx.input_info(1);
  std::string slope = ctx.cast_to(ctx.input(1), w.dtype, x.dtype);
  const int64_t c = shape_numel(w.shape);
  if (c != 1 && x.shape.size() > 2) {
    // ONNX broadcasts the slope from the right: [C] must become [C, 1, ..., 1] to act on dim 1.
    Shape slope_shape(x.shape.size() - 1, 1);
    slope_shape[0] = c;
    if (ctx.is_initializer(ctx.input(1)) && w.dtype == x.dtype) {
      slope = ctx.add_initializer(ctx.initializer(ctx.input(1)).reshape(slope_shape).contiguous(), "slope");
    } else {
      slope = ctx.emit("Reshape", {slope, ctx.const_ints(slope_shape, "slope_shape")});
    }
  }
  ctx.emit("PRelu", {ctx.input(0), slope}, {ctx.output(0)});
}

void linear_rule(RuleContext& ctx) {
  const graph::ValueInfo& x = ctx.input_info(0);
  if (x.shape.size() == 2) {
    std::vector<std::string> inputs = {ctx.input(0), ctx.input(1)};
    if (ctx.has_input(2)) inputs.push_back(ctx.input(2));
    ctx.emit("Gemm", inputs, {ctx.output(0)}, {{"transB", int64_t{1}}});
    return;
  }
  const std::string wt = ctx.emit("Transpose", {ctx.input(1)}, {}, {{"perm", std::vector<int64_t>{1, 0}}});
  if (!ctx.has_input(2)) {
    ctx.emit("MatMul", {ctx.input(0), wt}, {ctx.output(0)});
    return;
  }
  const std::string prod = ctx.emit("MatMul", {ctx.input(0), wt});
  ctx.emit("Add", {prod, ctx.input(2)}, {ctx.output(0)});
}

// x / max(||x||_2 along dim, eps)
void l2_normalize_rule(RuleContext& ctx) {
  const int64_t dim = ctx.node.attr_int("dim");
  const DType dtype = ctx.input_info(0).dtype;
  std::string norm;
  if (ctx.opset() >= 18) {
    norm = ctx.emit("ReduceL2", {ctx.input(0), ctx.const_ints({dim}, "axes")}, {}, {{"keepdims", int64_t{1}}});
  } else {
    norm = ctx.emit("ReduceL2", {ctx.input(0)}, {}, {{"axes", std::vector<int64_t>{dim}}, {"keepdims", int64_t{1}}});
  }
  const std::string clamped = ctx.emit("Max", {norm, ctx.const_scalar(ctx.node.attr_float("eps"), dtype, "eps")});
  ctx.emit("Div", {ctx.input(0), clamped}, {ctx.output(0)});
}

graph::Attributes pool_attrs(const graph::Node& n) {
  return {{"kernel_shape", n.attr_ints("kernel")},
          {"strides", n.attr_ints("stride")},
          {"pads", symmetric_pads(n.attr_ints("padding"))},
          {"ceil_mode", n.attr_int("ceil_mode")}};
}

}  // namespace

void add_nn_rules(RuleTable& t) {
  t["conv2d"] = conv2d_rule;
  t["batch_norm"] = batch_norm_rule;
  t["relu"] = [](RuleContext& ctx) { ctx.emit("Relu", {ctx.input(0)}, {ctx.output(0)}); };
  t["prelu"] = prelu_rule;
  t["dropout"] = [](RuleContext& ctx) {
    if (ctx.node.attr_int("training") != 0 && ctx.node.attr_float("p") > 0.0)
      ctx.fail("training-mode dropout cannot be exported; put the model in eval mode");
    ctx.emit("Identity", {ctx.input(0)}, {ctx.output(0)});
  };
  t["linear"] = linear_rule;
  t["matmul"] = [](RuleContext& ctx) { ctx.emit("MatMul", {ctx.input(0), ctx.input(1)}, {ctx.output(0)}); };
  t["l2_normalize"] = l2_normalize_rule;
  t["max_pool2d"] = [](RuleContext& ctx) {
    ctx.emit("MaxPool", {ctx.input(0)}, {ctx.output(0)}, pool_attrs(ctx.node));
  };
  t["avg_pool2d"] = [](RuleContext& ctx) {
    graph::Attributes attrs = pool_attrs(ctx.node);
    attrs["count_include_pad"] = ctx.node.attr_int("count_include_pad");
    ctx.emit("AveragePool", {ctx.input(0)}, {ctx.output(0)}, attrs);
  };
  t["global_avg_pool2d"] = [](RuleContext& ctx) { ctx.emit("GlobalAveragePool", {ctx.input(0)}, {ctx.output(0)}); };
  t["softmax"] = [](RuleContext& ctx) {
    ctx.emit("Softmax", {ctx.input(0)}, {ctx.output(0)}, {{"axis", ctx.node.attr_int("dim")}});
  };
  t["log_softmax"] = [](RuleContext& ctx) {
    ctx.emit("LogSoftmax", {ctx.input(0)}, {ctx.output(0)}, {{"axis", ctx.node.attr_int("dim")}});
  };
}

}  // namespace ff::onnx
