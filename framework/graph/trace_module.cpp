#include "framework/graph/trace_module.h"

#include "framework/autograd/autograd.h"
#include "framework/graph/tracer.h"

namespace ff::graph {

Graph trace_module(nn::Module& module, const std::string& input_name, const Tensor& input,
                   const std::string& output_name) {
  autograd::NoGradGuard no_grad;
  Tracer tracer;
  tracer.name_constants(module.named_parameters());
  tracer.name_constants(module.named_buffers());
  tracer.add_input(input_name, input);
  const Tensor out = module.forward(input);
  return tracer.finish({{output_name, out}});
}

}  // namespace ff::graph
