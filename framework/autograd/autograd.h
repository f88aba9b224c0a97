// Tape autograd: nodes recorded by ops during the forward pass, run in reverse by backward().
//
// How an op records itself (forward and backward side by side, see ops/):
//
//   Tensor out = ...compute forward...;
//   autograd::record("mul", {a, b}, {out}, /*saved=*/{a, b},
//       [](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
//         const Tensor& g = ctx.grad_outputs[0];
//         return {ctx.needs_input_grad(0) ? mul(g, ctx.saved(1)) : Tensor(),
//                 ctx.needs_input_grad(1) ? mul(g, ctx.saved(0)) : Tensor()};
//       });
//
// record() does nothing when grad mode is off or no input requires grad. Saved tensors are
// stored without autograd history (no reference cycles) and released after the node runs,
// unless retain_graph is set; using them again raises a clear error. A saved tensor that is
// modified in place before backward is detected through the storage version counter.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace ff::autograd {

// ---- grad mode ------------------------------------------------------------------------------
bool grad_mode_enabled();
void set_grad_mode(bool enabled);

// Disables recording for its scope (thread-local), e.g. in optimizers and evaluation.
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_mode_enabled()) { set_grad_mode(false); }
  ~NoGradGuard() { set_grad_mode(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// ---- graph ------------------------------------------------------------------------------------
class Node;

// An edge to the node that produces the gradient of one input.
struct Edge {
  std::shared_ptr<Node> fn;  // null when that input does not require grad
  uint32_t input_nr = 0;     // which of fn's outputs this edge feeds
};

// A tensor kept for backward, detached from the graph, with the version it had when saved.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  const Tensor& unpack(const std::string& node_name) const;  // throws if released or modified
  void release() { released_ = true, data_ = Tensor(); }

 private:
  Tensor data_;
  uint64_t version_ = 0;
  bool was_defined_ = false;
  bool released_ = false;
};

// Shape/dtype/device of one forward output, for zero-filling gradients that never arrived.
struct TensorMeta {
  Shape sizes;
  DType dtype = DType::Float32;
  Device device;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  explicit Node(std::string name);
  virtual ~Node() = default;

  const std::string& name() const { return name_; }
  uint64_t sequence_nr() const { return sequence_nr_; }
  // One per forward input; `grads` passed to apply() has one entry per forward output.
  std::vector<Edge> next_edges;
  std::vector<TensorMeta> output_meta;
  std::vector<TensorMeta> input_meta;

  // Computes input gradients from output gradients (all outputs' grads defined).
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grads) = 0;
  virtual void release_saved() {}

 private:
  std::string name_;
  uint64_t sequence_nr_;
};

struct BackwardContext {
  std::vector<Tensor> grad_outputs;  // one per forward output, always defined
  std::vector<bool> input_needs_grad;
  const std::vector<SavedTensor>* saved_tensors = nullptr;
  const std::string* node_name = nullptr;

  bool needs_input_grad(size_t i) const { return i < input_needs_grad.size() && input_needs_grad[i]; }
  const Tensor& saved(size_t i) const;
};

// Returns one gradient per forward input (undefined where not needed or not differentiable).
using BackwardFn = std::function<std::vector<Tensor>(const BackwardContext&)>;

// True when grad mode is on and any defined tensor in `inputs` requires grad.
bool needs_grad(const std::vector<Tensor>& inputs);

// Connects `outputs` to `inputs` through a new node named "<op>_backward".
void record(const std::string& op, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            const std::vector<Tensor>& saved, BackwardFn backward);

// ---- per-tensor state ---------------------------------------------------------------------------
struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;        // null for leaves
  uint32_t output_nr = 0;               // which output of grad_fn this tensor is
  std::weak_ptr<Node> grad_accumulator; // leaves only, created on demand
  std::vector<GradReadyHook> grad_ready_hooks;
};

AutogradMeta& meta(const Tensor& t);  // creates it on demand
// The edge through which gradient flows into `t` (grad_fn, or the leaf's accumulator).
Edge gradient_edge(const Tensor& t);

// ---- engine -------------------------------------------------------------------------------------
// Runs backward from `roots` with the given output gradients (same shapes as roots).
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
              bool retain_graph = false);

}  // namespace ff::autograd
