#include "framework/autograd/autograd.h"

#include <atomic>
#include <queue>
#include <unordered_map>

#include "ops/elementwise/binary.h"
#include "ops/tensor_ops/fill.h"

namespace ff::autograd {

namespace {
thread_local bool tls_grad_mode = true;
std::atomic<uint64_t> next_sequence_nr{0};
}  // namespace

bool grad_mode_enabled() { return tls_grad_mode; }
void set_grad_mode(bool enabled) { tls_grad_mode = enabled; }

// ---- SavedTensor --------------------------------------------------------------------------------
SavedTensor::SavedTensor(const Tensor& t) : was_defined_(t.defined()) {
  if (t.defined()) {
    data_ = t.detach();
    version_ = t.version();
  }
}

const Tensor& SavedTensor::unpack(const std::string& node_name) const {
  FF_CHECK(!released_,
           "{}: trying to backward through the graph a second time: its saved tensors were freed "
           "after the first backward. Pass retain_graph=true to the first backward() to keep them",
           node_name);
  if (was_defined_) {
    FF_CHECK(data_.version() == version_,
             "{}: a tensor saved for backward ({}) was modified by an in-place operation after it was "
             "saved (version {} now, {} when saved); gradients would be wrong",
             node_name, data_.describe(), data_.version(), version_);
  }
  return data_;
}

const Tensor& BackwardContext::saved(size_t i) const {
  FF_ASSERT(saved_tensors && i < saved_tensors->size(), "{}: saved tensor {} was not saved",
            node_name ? *node_name : "?", i);
  return (*saved_tensors)[i].unpack(*node_name);
}

// ---- nodes --------------------------------------------------------------------------------------
Node::Node(std::string name) : name_(std::move(name)), sequence_nr_(next_sequence_nr++) {}

namespace {

TensorMeta meta_of(const Tensor& t) { return TensorMeta{t.sizes(), t.dtype(), t.device()}; }

class FunctionNode final : public Node {
 public:
  FunctionNode(std::string name, std::vector<SavedTensor> saved, BackwardFn fn)
      : Node(std::move(name)), saved_(std::move(saved)), fn_(std::move(fn)) {}

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    BackwardContext ctx;
    ctx.grad_outputs = std::move(grads);
    ctx.input_needs_grad.resize(next_edges.size());
    for (size_t i = 0; i < next_edges.size(); ++i) ctx.input_needs_grad[i] = next_edges[i].fn != nullptr;
    ctx.saved_tensors = &saved_;
    ctx.node_name = &name();
    for (const auto& s : saved_) s.unpack(name());  // fail early and clearly on a second backward
    std::vector<Tensor> out = fn_(ctx);
    FF_ASSERT(out.size() == next_edges.size(), "{} returned {} gradients for {} inputs", name(), out.size(),
              next_edges.size());
    for (size_t i = 0; i < out.size(); ++i) {
      if (!out[i].defined() || !next_edges[i].fn) continue;
      FF_ASSERT(out[i].sizes() == input_meta[i].sizes, "{}: gradient {} has shape {} but the input had {}",
                name(), i, shape_str(out[i].sizes()), shape_str(input_meta[i].sizes));
      if (out[i].dtype() != input_meta[i].dtype) out[i] = out[i].to(input_meta[i].dtype);
    }
    return out;
  }

  void release_saved() override {
    for (auto& s : saved_) s.release();
  }

 private:
  std::vector<SavedTensor> saved_;
  BackwardFn fn_;
};

// Sink node of a leaf: sums the incoming gradient into leaf.grad and fires its hooks.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf) : Node("accumulate_grad"), leaf_(leaf) {}

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    std::shared_ptr<TensorImpl> impl = leaf_.lock();
    if (!impl) return {};  // the leaf is gone; nothing to accumulate into
    Tensor leaf(impl);
    Tensor g = std::move(grads[0]);
    FF_ASSERT(g.sizes() == leaf.sizes(), "gradient shape {} does not match leaf shape {}",
              shape_str(g.sizes()), shape_str(leaf.sizes()));
    if (g.dtype() != leaf.dtype()) g = g.to(leaf.dtype());
    AutogradMeta& m = meta(leaf);
    if (!m.grad.defined()) {
      // Own the buffer: the optimizer and clipping write to .grad in place.
      const bool exclusive = g.is_contiguous() && g.storage().use_count() == 1;
      m.grad = exclusive ? g.detach() : g.clone().detach();
    } else {
      m.grad = add(m.grad, g);
    }
    for (const auto& hook : m.grad_ready_hooks) hook(leaf);
    return {};
  }

 private:
  std::weak_ptr<TensorImpl> leaf_;
};

}  // namespace

AutogradMeta& meta(const Tensor& t) {
  FF_ASSERT(t.defined(), "autograd meta of an undefined tensor");
  auto& slot = t.impl()->autograd;
  if (!slot) slot = std::make_unique<AutogradMeta>();
  return *slot;
}

Edge gradient_edge(const Tensor& t) {
  AutogradMeta& m = meta(t);
  if (m.grad_fn) return Edge{m.grad_fn, m.output_nr};
  if (!m.requires_grad) return Edge{};
  std::shared_ptr<Node> acc = m.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    acc->output_meta.push_back(meta_of(t));
    m.grad_accumulator = acc;
  }
  return Edge{acc, 0};
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_mode_enabled()) return false;
  for (const auto& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

void record(const std::string& op, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            const std::vector<Tensor>& saved, BackwardFn backward) {
  if (!needs_grad(inputs)) return;
  std::vector<SavedTensor> saved_tensors;
  saved_tensors.reserve(saved.size());
  for (const auto& s : saved) saved_tensors.emplace_back(s);
  auto node = std::make_shared<FunctionNode>(op + "_backward", std::move(saved_tensors), std::move(backward));
  node->next_edges.reserve(inputs.size());
  for (const auto& in : inputs) {
    node->next_edges.push_back(in.defined() && in.requires_grad() ? gradient_edge(in) : Edge{});
    node->input_meta.push_back(in.defined() ? meta_of(in) : TensorMeta{});
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    AutogradMeta& m = meta(outputs[i]);
    FF_ASSERT(!m.grad_fn, "{}: output {} already has a grad_fn", op, i);
    m.requires_grad = true;
    m.grad_fn = node;
    m.output_nr = static_cast<uint32_t>(i);
    node->output_meta.push_back(meta_of(outputs[i]));
  }
}

// ---- engine -------------------------------------------------------------------------------------
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, bool retain_graph) {
  FF_CHECK(roots.size() == grad_roots.size(), "backward: {} roots but {} gradients", roots.size(),
           grad_roots.size());
  NoGradGuard no_grad;

  std::vector<Edge> root_edges;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    check_defined(r, "backward", "root");
    FF_CHECK(r.requires_grad(),
             "backward: tensor {} does not require grad and has no grad_fn; nothing to differentiate",
             r.describe());
    FF_CHECK(grad_roots[i].defined() && grad_roots[i].sizes() == r.sizes(),
             "backward: gradient {} does not match root {}",
             grad_roots[i].defined() ? grad_roots[i].describe() : std::string("(undefined)"), r.describe());
    root_edges.push_back(gradient_edge(r));
  }

  // Count, for every reachable node, how many edges feed it.
  std::unordered_map<Node*, int> dependencies;
  {
    std::vector<Node*> stack;
    std::unordered_map<Node*, bool> seen;
    for (const auto& e : root_edges) {
      if (!seen[e.fn.get()]) seen[e.fn.get()] = true, stack.push_back(e.fn.get());
    }
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (const auto& e : n->next_edges) {
        if (!e.fn) continue;
        ++dependencies[e.fn.get()];
        if (!seen[e.fn.get()]) seen[e.fn.get()] = true, stack.push_back(e.fn.get());
      }
    }
  }

  // Gradient buffers per node (one slot per node output), summed as contributions arrive.
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  // Raw pointers are safe: every reachable node is owned by the roots' graph (or root_edges)
  // for the whole call.
  auto accumulate = [&](const Edge& e, Tensor g) {
    auto& buf = buffers[e.fn.get()];
    if (buf.empty()) buf.resize(e.fn->output_meta.size());
    Tensor& slot = buf[e.input_nr];
    slot = slot.defined() ? add(slot, g) : std::move(g);
  };
  auto later_first = [](Node* a, Node* b) { return a->sequence_nr() < b->sequence_nr(); };
  std::priority_queue<Node*, std::vector<Node*>, decltype(later_first)> ready(later_first);

  for (size_t i = 0; i < roots.size(); ++i) accumulate(root_edges[i], grad_roots[i].detach());
  for (const auto& e : root_edges) {
    if (dependencies[e.fn.get()] == 0) {
      dependencies[e.fn.get()] = -1;  // queued once even if several roots share it
      ready.push(e.fn.get());
    }
  }

  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    std::vector<Tensor> input_grads;
    auto buf = buffers.find(node);
    if (buf != buffers.end()) {  // no gradient reached this node: skip it, but release its children
      std::vector<Tensor> grads = std::move(buf->second);
      buffers.erase(buf);
      for (size_t i = 0; i < grads.size(); ++i) {
        if (!grads[i].defined()) {
          const TensorMeta& m = node->output_meta[i];
          grads[i] = zeros(m.sizes, m.dtype, m.device);
        }
      }
      input_grads = node->apply(std::move(grads));
      if (!retain_graph) node->release_saved();
    }
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.fn) continue;
      if (i < input_grads.size() && input_grads[i].defined()) accumulate(e, std::move(input_grads[i]));
      if (--dependencies[e.fn.get()] == 0) ready.push(e.fn.get());
    }
  }
}

}  // namespace ff::autograd
