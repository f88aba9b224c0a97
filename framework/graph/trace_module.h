// Traces one forward pass of a single-input module into a Graph:
//
//   graph::Graph g = graph::trace_module(*model, "data", images, "embedding");
//
// Runs with autograd off and names initializers after the module's parameters and buffers
// ("conv1.weight", "bn1.running_mean"). The module's mode (train/eval) is left as it is: put it
// in eval mode first for export.
#pragma once

#include <string>

#include "framework/graph/graph.h"
#include "framework/nn/module.h"

namespace ff::graph {

Graph trace_module(nn::Module& module, const std::string& input_name, const Tensor& input,
                   const std::string& output_name);

}  // namespace ff::graph
