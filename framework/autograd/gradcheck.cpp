#include "framework/autograd/gradcheck.h"

#include <cmath>
#include <unordered_set>

#include "framework/autograd/autograd.h"
#include "ops/elementwise/binary.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace ff::autograd {

std::set<std::string> graph_op_names(const Tensor& t) {
  std::set<std::string> names;
  if (!t.defined() || !t.grad_fn()) return names;
  std::vector<Node*> stack{t.grad_fn().get()};
  std::unordered_set<Node*> seen{stack.back()};
  const std::string suffix = "_backward";
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    const std::string& name = n->name();
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      names.insert(name.substr(0, name.size() - suffix.size()));
    }
    for (const auto& e : n->next_edges) {
      if (e.fn && seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }
  return names;
}

namespace {

// L = sum_k <w_k, y_k>, in float64.
double project(const std::vector<Tensor>& ys, const std::vector<Tensor>& ws) {
  double total = 0.0;
  for (size_t k = 0; k < ys.size(); ++k) {
    if (!ys[k].defined() || !is_floating(ys[k].dtype())) continue;
    total += sum(mul(ys[k].detach().to(DType::Float64), ws[k])).item<double>();
  }
  return total;
}

}  // namespace

GradcheckResult gradcheck(const MultiFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opts) {
  GradcheckResult result;
  for (size_t i = 0; i < inputs.size(); ++i) {
    FF_CHECK(inputs[i].dtype() == DType::Float64 && inputs[i].is_leaf(),
             "gradcheck: input {} must be a float64 leaf, got {}", i, inputs[i].describe());
  }
  // Analytic gradients.
  std::vector<Tensor> ys = f(inputs);
  Generator gen(1234);
  std::vector<Tensor> ws;
  Tensor loss;
  for (const auto& y : ys) {
    ws.push_back(y.defined() && is_floating(y.dtype()) ? randn(y.sizes(), DType::Float64, y.device(), &gen) : Tensor());
    if (!y.defined() || !y.requires_grad()) continue;
    result.ops_seen.merge(graph_op_names(y));
    Tensor term = sum(mul(y.to(DType::Float64), ws.back()));
    loss = loss.defined() ? add(loss, term) : term;
  }
  for (auto x : inputs) x.zero_grad();
  FF_CHECK(loss.defined(), "gradcheck: no output requires grad");
  loss.backward();

  // Numeric gradients by central differences on the leaves' storage.
  NoGradGuard no_grad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    FF_CHECK(x.is_contiguous(), "gradcheck: input {} must be contiguous (take views inside f)", i);
    const Tensor analytic = x.grad().defined() ? x.grad().contiguous() : zeros_like(x);
    const double* ga = analytic.data<double>();
    double* px = x.data<double>();
    for (int64_t e = 0; e < x.numel(); ++e) {
      const double orig = px[e];
      px[e] = orig + opts.eps;
      const double up = project(f(inputs), ws);
      px[e] = orig - opts.eps;
      const double down = project(f(inputs), ws);
      px[e] = orig;
      const double numeric = (up - down) / (2.0 * opts.eps);
      const double err = std::abs(numeric - ga[e]);
      result.max_abs_error = std::max(result.max_abs_error, err);
      if (err > opts.atol + opts.rtol * std::abs(numeric) && result.ok) {
        result.ok = false;
        result.message = fmt::format("input {} ({}), element {}: analytic {:.10g} vs numeric {:.10g} (error {:.3g})",
                                     i, x.describe(), e, ga[e], numeric, err);
      }
    }
  }
  return result;
}

}  // namespace ff::autograd
