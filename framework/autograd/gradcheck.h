// Finite-difference gradient checking (float64, central differences).
//
// gradcheck(f, inputs) projects f's outputs onto fixed random weights, L = sum_k <w_k, f_k(x)>,
// computes dL/dx by backward(), and compares it element by element with
// (L(x + eps e_i) - L(x - eps e_i)) / 2 eps. Inputs must be float64 leaves that require grad;
// f may take views of them (transposes, slices) to exercise non-contiguous paths.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace ff::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-5;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;              // first mismatch: input, element, analytic vs numeric
  double max_abs_error = 0.0;
  std::set<std::string> ops_seen;   // op names of the backward nodes reached from the outputs
};

using MultiFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const MultiFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opts = {});

// Names ("add", "conv2d", ...) of every function node reachable from `t`'s grad_fn.
std::set<std::string> graph_op_names(const Tensor& t);

}  // namespace ff::autograd
