// ONNX rules for elementwise ops, reductions, casts and index ops.
#include "framework/common/check.h"
#include "framework/onnx/rules.h"
#include "ops/tensor_ops/fill.h"

namespace ff::onnx {

namespace {

// Our binary ops promote both operands to a common dtype; ONNX wants them equal already.
Rule binary(const char* op_type, bool negate = false) {
  return [op_type, negate](RuleContext& ctx) {
    const DType a = ctx.input_info(0).dtype, b = ctx.input_info(1).dtype;
    const DType compute = promote_types(a, b);
    const std::string x = ctx.cast_to(ctx.input(0), a, compute);
    const std::string y = ctx.cast_to(ctx.input(1), b, compute);
    if (!negate) {
      ctx.emit(op_type, {x, y}, {ctx.output(0)});
    } else {
      ctx.emit("Not", {ctx.emit(op_type, {x, y})}, {ctx.output(0)});
    }
  };
}

Rule unary(const char* op_type) {
  return [op_type](RuleContext& ctx) { ctx.emit(op_type, {ctx.input(0)}, {ctx.output(0)}); };
}

// sum/mean/max/min. ReduceSum takes its axes as an input from opset 13, the others only from 18.
Rule reduction(const char* op_type, bool axes_as_input_from_13) {
  return [op_type, axes_as_input_from_13](RuleContext& ctx) {
    const std::vector<int64_t>& dims = ctx.node.attr_ints("dims");
    const DType in = ctx.input_info(0).dtype, out = ctx.output_info(0).dtype;
    // Integer sums widen to int64 in FaceFlow; do the same before reducing.
    const std::string x = ctx.cast_to(ctx.input(0), in, out);
    graph::Attributes attrs = {{"keepdims", ctx.node.attr_int("keepdim")}};
    std::vector<std::string> inputs = {x};
    if (!dims.empty()) {  // no axes: reduce over every dim, as FaceFlow does for an empty list
      if (axes_as_input_from_13 || ctx.opset() >= 18) {
        inputs.push_back(ctx.const_ints(dims, "axes"));
      } else {
        attrs["axes"] = dims;
      }
    }
    ctx.emit(op_type, inputs, {ctx.output(0)}, attrs);
  };
}

Rule arg_reduction(const char* op_type) {
  return [op_type](RuleContext& ctx) {
    ctx.emit(op_type, {ctx.input(0)}, {ctx.output(0)},
             {{"axis", ctx.node.attr_int("dim")}, {"keepdims", ctx.node.attr_int("keepdim")}});
  };
}

void clamp_rule(RuleContext& ctx) {
  const DType dtype = ctx.input_info(0).dtype;
  const auto lo = ctx.node.attr_float_opt("lo");
  const auto hi = ctx.node.attr_float_opt("hi");
  ctx.emit("Clip",
           {ctx.input(0), lo ? ctx.const_scalar(*lo, dtype, "min") : std::string(),
            hi ? ctx.const_scalar(*hi, dtype, "max") : std::string()},
           {ctx.output(0)});
}

void where_rule(RuleContext& ctx) {
  const DType out = ctx.output_info(0).dtype;
  ctx.emit("Where",
           {ctx.input(0), ctx.cast_to(ctx.input(1), ctx.input_info(1).dtype, out),
            ctx.cast_to(ctx.input(2), ctx.input_info(2).dtype, out)},
           {ctx.output(0)});
}

void one_hot_rule(RuleContext& ctx) {
  const DType out = ctx.output_info(0).dtype;
  Tensor values = Tensor::empty({2}, DType::Float64);
  values.data<double>()[0] = 0.0;
  values.data<double>()[1] = 1.0;
  ctx.emit("OneHot",
           {ctx.input(0), ctx.const_ints({ctx.node.attr_int("num_classes")}, "depth"),
            ctx.add_initializer(values.to(out), "values")},
           {ctx.output(0)}, {{"axis", int64_t{-1}}});
}

void scatter_add_rule(RuleContext& ctx) {
  // ScatterElements gained reduction="add" in v16; before it duplicates would overwrite.
  if (ctx.opset() < 16) ctx.fail("scatter_add needs ScatterElements with reduction='add' (opset >= 16)");
  ctx.emit("ScatterElements", {ctx.input(0), ctx.input(1), ctx.input(2)}, {ctx.output(0)},
           {{"axis", ctx.node.attr_int("dim")}, {"reduction", std::string("add")}});
}

}  // namespace

void add_math_rules(RuleTable& t) {
  t["add"] = binary("Add");
  t["sub"] = binary("Sub");
  t["mul"] = binary("Mul");
  t["div"] = binary("Div");
  t["maximum"] = binary("Max");
  t["minimum"] = binary("Min");
  t["pow"] = binary("Pow");
  t["eq"] = binary("Equal");
  t["ne"] = binary("Equal", /*negate=*/true);
  t["lt"] = binary("Less");
  t["le"] = binary("LessOrEqual");
  t["gt"] = binary("Greater");
  t["ge"] = binary("GreaterOrEqual");

  t["neg"] = unary("Neg");
  t["exp"] = unary("Exp");
  t["log"] = unary("Log");
  t["sqrt"] = unary("Sqrt");
  t["abs"] = unary("Abs");
  t["acos"] = unary("Acos");
  t["cos"] = unary("Cos");
  t["sin"] = unary("Sin");
  t["rsqrt"] = [](RuleContext& ctx) {
    ctx.emit("Reciprocal", {ctx.emit("Sqrt", {ctx.input(0)})}, {ctx.output(0)});
  };
  t["pow_scalar"] = [](RuleContext& ctx) {
    const std::string e = ctx.const_scalar(ctx.node.attr_float("exponent"), ctx.input_info(0).dtype, "exponent");
    ctx.emit("Pow", {ctx.input(0), e}, {ctx.output(0)});
  };
  t["clamp"] = clamp_rule;
  t["where"] = where_rule;
  t["cast"] = [](RuleContext& ctx) {
    ctx.emit("Cast", {ctx.input(0)}, {ctx.output(0)}, {{"to", int64_t{onnx_data_type(ctx.output_info(0).dtype)}}});
  };

  t["sum"] = reduction("ReduceSum", true);
  t["mean"] = reduction("ReduceMean", false);
  t["max"] = reduction("ReduceMax", false);
  t["min"] = reduction("ReduceMin", false);
  t["argmax"] = arg_reduction("ArgMax");
  t["argmin"] = arg_reduction("ArgMin");

  t["index_select"] = [](RuleContext& ctx) {
    ctx.emit("Gather", {ctx.input(0), ctx.input(1)}, {ctx.output(0)}, {{"axis", ctx.node.attr_int("dim")}});
  };
  t["gather"] = [](RuleContext& ctx) {
    ctx.emit("GatherElements", {ctx.input(0), ctx.input(1)}, {ctx.output(0)}, {{"axis", ctx.node.attr_int("dim")}});
  };
  t["scatter_add"] = scatter_add_rule;
  t["one_hot"] = one_hot_rule;
}

}  // namespace ff::onnx
