// ff::nn::Module: the base of every layer and model, with PyTorch's nn.Module semantics.
//
// A module owns named parameters (trainable leaf tensors), named buffers (state such as
// BatchNorm running statistics) and named child modules, all kept in registration order:
//
//   class Block : public nn::Module {
//    public:
//     Block() {
//       conv = register_module("conv", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(64, 64, 3)));
//       scale = register_parameter("scale", ones({64}));
//     }
//     std::string name() const override { return "Block"; }
//     Tensor forward(const Tensor& x) override { return conv->forward(x) * scale.view({1, 64, 1, 1}); }
//     std::shared_ptr<nn::Conv2d> conv;
//     Tensor scale;
//   };
//
// Layers keep plain Tensor handles to what they registered (`conv->weight`). Those handles
// stay valid for the module's lifetime: to(), load_state_dict() and the initialisers change
// the tensors' contents in place, they never replace them. Do not reassign such a member;
// write into it (under autograd::NoGradGuard) instead.
//
// Names: a local name is non-empty and has no '.'; parameters, buffers and children share one
// namespace per module. Recursive accessors return dotted paths ("layer1.0.conv1.weight"),
// parents before children, each in registration order; a tensor or module reachable twice
// (weight tying) is listed once, under its first name.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "framework/core/device.h"
#include "framework/core/dtype.h"
#include "framework/core/tensor.h"
#include "framework/io/state_dict.h"

namespace ff::nn {

class Module;

using NamedTensor = std::pair<std::string, Tensor>;
using NamedModule = std::pair<std::string, std::shared_ptr<Module>>;

// What load_state_dict(strict = false) skipped (always empty after a strict load).
struct LoadStateDictResult {
  std::vector<std::string> missing_keys;     // expected by the module, absent from the dict
  std::vector<std::string> unexpected_keys;  // in the dict, unknown to the module
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // Modules are identities (parameters alias, parents point at children): no copies.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The type name used in printing and error messages ("Conv2d"). The default is the
  // unqualified C++ class name; override it for a stable, readable name.
  virtual std::string name() const;

  // ---- forward ------------------------------------------------------------------------------
  // Single-input convention. Modules with other signatures declare their own forward
  // overloads; calling this one on them raises an error naming the module.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // ---- registration (call from the constructor of the subclass) -----------------------------
  // Marks `tensor` as a parameter (a leaf; requires_grad set as given) and returns the same
  // handle. The tensor must be defined, floating when it requires grad, and have no history.
  Tensor register_parameter(const std::string& local_name, Tensor tensor, bool requires_grad = true);
  // Buffers are state that is not trained (running stats, counters). Non-persistent buffers
  // are moved by to() but left out of state_dict().
  Tensor register_buffer(const std::string& local_name, Tensor tensor, bool persistent = true);
  // Adds a child; returns it with its own type so constructors can keep a typed member.
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& local_name, std::shared_ptr<M> module) {
    register_module_impl(local_name, module);
    return module;
  }

  // ---- lookup ---------------------------------------------------------------------------------
  // By dotted path; throws naming the module and listing what exists at the failing level.
  Tensor parameter(const std::string& path) const;
  Tensor buffer(const std::string& path) const;
  std::shared_ptr<Module> child(const std::string& path) const;
  bool has_parameter(const std::string& path) const;
  bool has_buffer(const std::string& path) const;

  // ---- traversal --------------------------------------------------------------------------------
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<NamedTensor> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<NamedTensor> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  const std::vector<NamedModule>& named_children() const { return children_; }
  // This module (name "", as a non-owning pointer) followed by every descendant.
  std::vector<std::pair<std::string, Module*>> named_modules() const;
  std::vector<Module*> modules() const;
  // Every module in the tree (this one included) whose dynamic type is M.
  template <typename M>
  std::vector<M*> modules_of_type() const {
    std::vector<M*> out;
    for (Module* m : modules()) {
      if (auto* typed = dynamic_cast<M*>(m)) out.push_back(typed);
    }
    return out;
  }
  // Calls fn on every module, children first, then this one (like PyTorch's apply).
  void apply(const std::function<void(Module&)>& fn);

  // ---- modes ------------------------------------------------------------------------------------
  // Recursive. Layers such as BatchNorm and Dropout read is_training() in forward.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ---- gradients and freezing ---------------------------------------------------------------
  // Drops every parameter's gradient (set-to-none semantics).
  void zero_grad();
  // Sets requires_grad on the parameters whose dotted name is `prefix` or starts with
  // `prefix` + "." (whole components only: "layer1" does not match "layer10"). An empty prefix
  // selects every parameter; a prefix matching nothing is an error. Returns the number of
  // parameters selected.
  int64_t freeze(const std::string& prefix = "");
  int64_t unfreeze(const std::string& prefix = "");
  // Total element count of the parameters (only those requiring grad when trainable_only).
  int64_t num_parameters(bool trainable_only = false) const;

  // ---- state ------------------------------------------------------------------------------------
  // Parameters and persistent buffers under dotted keys, detached. The tensors alias the
  // module's storage (like PyTorch); clone them for a snapshot. A module shared under two
  // paths appears under both, as in PyTorch, so the keys mirror the structure.
  StateDict state_dict() const;
  // Copies `dict` into the module's tensors in place (under NoGradGuard; versions bump).
  // Everything is validated before anything is written, and all problems are reported in a
  // single error: missing keys and unexpected keys (strict only), shape mismatches and
  // dtype-kind mismatches (always). Dtype rule: a floating value is converted to the module
  // tensor's floating dtype (an fp16 checkpoint loads into an fp32 model); an integral value
  // loads into an integral tensor; floating <-> integral is an error. Values may come from
  // any device.
  LoadStateDictResult load_state_dict(const StateDict& dict, bool strict = true);

  // ---- conversion -------------------------------------------------------------------------------
  // Moves every parameter, buffer and gradient. The tensors keep their identity (handles held
  // by layers, optimizers and hooks stay valid), requires_grad, and remain leaves.
  Module& to(Device device);
  // Casts the floating parameters, buffers and gradients; integral buffers (counters) are kept.
  Module& to(DType dtype);

  // ---- printing ---------------------------------------------------------------------------------
  // One-line description of this module's configuration, e.g. "3, 64, kernel_size=(3, 3)".
  virtual std::string extra_repr() const { return ""; }
  // The tree, like PyTorch's repr:
  //   Sequential(
  //     (0): Linear(in_features=4, out_features=2, bias=True)
  //     (1): ReLU()
  //   )
  std::string str() const;

 private:
  struct BufferSlot {
    std::string name;
    Tensor tensor;
    bool persistent;
  };

  void register_module_impl(const std::string& local_name, const std::shared_ptr<Module>& module);
  void check_new_name(const std::string& local_name, const char* what) const;
  // Walks `path` down to the module owning its last component (stored in *leaf); throws
  // naming the full path and the failing level when a submodule is missing.
  const Module& resolve_owner(const std::string& path, std::string* leaf) const;
  // Same walk, returning null instead of throwing.
  const Module* find_owner(const std::string& path, std::string* leaf) const;
  // Visits this module and its descendants, parents first, with their dotted prefixes ("" for
  // this one). With `once`, a module reachable through several paths is visited only once.
  void visit(const std::function<void(const std::string&, Module&)>& fn, bool once) const;
  // Parameters and persistent buffers under full dotted keys, without de-duplication (the
  // key set of state_dict()).
  std::vector<NamedTensor> state_entries() const;
  int64_t set_requires_grad_by_prefix(const std::string& prefix, bool requires_grad, const char* op);
  // Replaces the data of every parameter, buffer and gradient t by convert(t), unless convert
  // returns an undefined tensor (nothing to do).
  void convert_tensors(const std::function<Tensor(const Tensor&)>& convert);

  std::vector<NamedTensor> parameters_;
  std::vector<BufferSlot> buffers_;
  std::vector<NamedModule> children_;
  bool training_ = true;
};

// Formats a double like Python's repr (0.0, 0.5, 1e-05), so extra_repr() reads like PyTorch's.
std::string repr_float(double value);

// Prints module.str().
std::ostream& operator<<(std::ostream& os, const Module& module);

}  // namespace ff::nn
