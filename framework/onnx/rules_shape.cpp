// ONNX rules for views and joins: reshape, slice, select, permute, expand, concat, stack, split.
//
// Shapes in the graph are the traced ones. So that a model traced at batch 1 runs at any batch
// (--dynamic-batch), target shapes copy the leading dims they share with the input (Reshape's
// 0 = "copy this input dim", Expand's 1 = "keep this input dim") instead of hard-coding them.
#include <limits>

#include "framework/common/check.h"
#include "framework/onnx/rules.h"

namespace ff::onnx {

namespace {

void reshape_rule(RuleContext& ctx) {
  const Shape& in = ctx.input_info(0).shape;
  const std::vector<int64_t>& out = ctx.node.attr_ints("shape");
  // [N, d1, d2, ...] -> [N, d1 * d2 * ...]: Flatten, which also keeps N symbolic.
  if (in.size() >= 2 && out.size() == 2 && out[0] == in[0]) {
    ctx.emit("Flatten", {ctx.input(0)}, {ctx.output(0)}, {{"axis", int64_t{1}}});
    return;
  }
  std::vector<int64_t> target = out;
  for (size_t i = 0; i < target.size() && i < in.size() && in[i] == out[i]; ++i) target[i] = 0;
  ctx.emit("Reshape", {ctx.input(0), ctx.const_ints(target, "shape")}, {ctx.output(0)});
}

void expand_rule(RuleContext& ctx) {
  const Shape& in = ctx.input_info(0).shape;
  std::vector<int64_t> target = ctx.node.attr_ints("shape");
  const size_t lead = target.size() - in.size();
  for (size_t i = lead; i < target.size(); ++i)
    if (in[i - lead] == target[i]) target[i] = 1;  // bidirectional broadcast keeps the input's size
  ctx.emit("Expand", {ctx.input(0), ctx.const_ints(target, "shape")}, {ctx.output(0)});
}

void slice_rule(RuleContext& ctx) {
  const Shape& in = ctx.input_info(0).shape;
  const int64_t dim = ctx.node.attr_int("dim");
  int64_t end = ctx.node.attr_int("end");
  // A slice to the end stays "to the end" whatever the actual size (dynamic batch).
  if (end >= in[static_cast<size_t>(dim)]) end = std::numeric_limits<int64_t>::max();
  ctx.emit("Slice",
           {ctx.input(0), ctx.const_ints({ctx.node.attr_int("start")}, "starts"), ctx.const_ints({end}, "ends"),
            ctx.const_ints({dim}, "axes"), ctx.const_ints({ctx.node.attr_int("step")}, "steps")},
           {ctx.output(0)});
}

void concat_rule(RuleContext& ctx) {
  const DType out = ctx.output_info(0).dtype;
  std::vector<std::string> inputs;
  for (size_t i = 0; i < ctx.node.inputs.size(); ++i)
    inputs.push_back(ctx.cast_to(ctx.input(i), ctx.input_info(i).dtype, out));
  ctx.emit("Concat", inputs, {ctx.output(0)}, {{"axis", ctx.node.attr_int("dim")}});
}

void stack_rule(RuleContext& ctx) {
  const int64_t dim = ctx.node.attr_int("dim");
  const std::string axes = ctx.const_ints({dim}, "axes");
  std::vector<std::string> parts;
  for (size_t i = 0; i < ctx.node.inputs.size(); ++i) parts.push_back(ctx.emit("Unsqueeze", {ctx.input(i), axes}));
  ctx.emit("Concat", parts, {ctx.output(0)}, {{"axis", dim}});
}

void split_rule(RuleContext& ctx) {
  // Split takes the sizes as an input from v13 (opsets 13..17).
  ctx.emit("Split", {ctx.input(0), ctx.const_ints(ctx.node.attr_ints("sizes"), "split")}, ctx.node.outputs,
           {{"axis", ctx.node.attr_int("dim")}});
}

}  // namespace

void add_shape_rules(RuleTable& t) {
  t["reshape"] = reshape_rule;
  t["expand"] = expand_rule;
  t["slice"] = slice_rule;
  t["select"] = [](RuleContext& ctx) {
    // Gather with a 0-d index drops the dim, as select does.
    ctx.emit("Gather", {ctx.input(0), ctx.const_int_scalar(ctx.node.attr_int("index"), "index")}, {ctx.output(0)},
             {{"axis", ctx.node.attr_int("dim")}});
  };
  t["permute"] = [](RuleContext& ctx) {
    ctx.emit("Transpose", {ctx.input(0)}, {ctx.output(0)}, {{"perm", ctx.node.attr_ints("perm")}});
  };
  t["concat"] = concat_rule;
  t["stack"] = stack_rule;
  t["split"] = split_rule;
}

}  // namespace ff::onnx
