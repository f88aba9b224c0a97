// Reference interpreter: runs a Graph by calling FaceFlow's own ops, node by node. It exists to
// check the tracer and the passes (a traced graph replayed must equal the module's forward).
//
// One replay function per op name; every kOnnxExportable op has one (the registry self-test
// checks that). Inputs are bound by name; returns the graph outputs in order.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/graph/graph.h"

namespace ff::graph {

// inputs: one tensor per node input (undefined for an omitted operand) -> node outputs.
using ReplayFn = std::function<std::vector<Tensor>(const Node& node, const std::vector<Tensor>& inputs)>;

// op name -> replay function.
const std::map<std::string, ReplayFn>& replay_functions();

// Runs `g` with the graph inputs bound from `inputs` (by name; every graph input must be given,
// with a matching rank and dtype; its sizes may differ from the traced ones, e.g. the batch).
std::vector<Tensor> run_graph(const Graph& g, const std::map<std::string, Tensor>& inputs);

}  // namespace ff::graph
