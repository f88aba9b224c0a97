// Module: registration, lookup, traversal, modes, freezing and printing (state and
// conversions are in module_state.cpp).
#include "framework/nn/module.h"

#include <cxxabi.h>

#include <cstdlib>
#include <ostream>
#include <typeinfo>
#include <unordered_set>

#include "framework/common/check.h"

namespace ff::nn {

namespace {

std::string join_path(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

template <typename Entries>
std::string list_names(const Entries& entries) {
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.first);
  return fmt::format("[{}]", fmt::join(names, ", "));
}


}  // namespace

// ---- identity and forward -----------------------------------------------------------------------

std::string Module::name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string full = status == 0 && demangled ? demangled : mangled;
  std::free(demangled);
  // "ff::nn::Conv2d" -> "Conv2d"; template arguments are kept as written.
  const size_t template_start = full.find('<');
  const size_t last_scope = full.rfind("::", template_start);
  return last_scope == std::string::npos ? full : full.substr(last_scope + 2);
}

Tensor Module::forward(const Tensor& x) {
  FF_THROW(
      "{}: forward(const Tensor&) is not implemented; this module is a container or takes other "
      "inputs (call its own forward overload)",
      name());
}

// ---- registration -----------------------------------------------------------------------------------

void Module::check_new_name(const std::string& local, const char* what) const {
  FF_CHECK(!local.empty(), "{}.{}: the name is empty", name(), what);
  FF_CHECK(local.find('.') == std::string::npos,
           "{}.{}: name '{}' contains '.', which separates path components", name(), what, local);
  for (const auto& p : parameters_) {
    FF_CHECK(p.first != local, "{}.{}: name '{}' is already a parameter of this module", name(), what, local);
  }
  for (const auto& b : buffers_) {
    FF_CHECK(b.name != local, "{}.{}: name '{}' is already a buffer of this module", name(), what, local);
  }
  for (const auto& c : children_) {
    FF_CHECK(c.first != local, "{}.{}: name '{}' is already a submodule ({}) of this module", name(), what,
             local, c.second->name());
  }
}

Tensor Module::register_parameter(const std::string& local, Tensor tensor, bool requires_grad) {
  check_new_name(local, "register_parameter");
  FF_CHECK(tensor.defined(), "{}.register_parameter: tensor for '{}' is undefined", name(), local);
  FF_CHECK(tensor.is_leaf(),
           "{}.register_parameter: tensor for '{}' ({}) has autograd history; parameters are leaves "
           "(register a fresh or detached tensor)",
           name(), local, tensor.describe());
  FF_CHECK(!requires_grad || is_floating(tensor.dtype()),
           "{}.register_parameter: '{}' is {}; only floating tensors can be trainable", name(), local,
           tensor.describe());
  tensor.set_requires_grad(requires_grad);
  parameters_.emplace_back(local, tensor);
  return tensor;
}

Tensor Module::register_buffer(const std::string& local, Tensor tensor, bool persistent) {
  check_new_name(local, "register_buffer");
  FF_CHECK(tensor.defined(), "{}.register_buffer: tensor for '{}' is undefined", name(), local);
  buffers_.push_back(BufferSlot{local, tensor, persistent});
  return tensor;
}

void Module::register_module_impl(const std::string& local, const std::shared_ptr<Module>& module) {
  check_new_name(local, "register_module");
  FF_CHECK(module != nullptr, "{}.register_module: module for '{}' is null", name(), local);
  // A module inside its own subtree would make every traversal loop forever.
  for (Module* m : module->modules()) {
    FF_CHECK(m != this, "{}.register_module: '{}' ({}) contains this module; modules must form a tree",
             name(), local, module->name());
  }
  children_.emplace_back(local, module);
}

// ---- lookup ---------------------------------------------------------------------------------------------

const Module& Module::resolve_owner(const std::string& path, std::string* leaf) const {
  const std::vector<std::string> parts = split_path(path);
  const Module* owner = this;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const Module* next = nullptr;
    for (const auto& c : owner->children_) {
      if (c.first == parts[i]) next = c.second.get();
    }
    FF_CHECK(next != nullptr, "{}: no submodule '{}' on the path '{}' ({} has children {})", name(), parts[i],
             path, owner->name(), list_names(owner->children_));
    owner = next;
  }
  *leaf = parts.back();
  return *owner;
}

const Module* Module::find_owner(const std::string& path, std::string* leaf) const {
  const std::vector<std::string> parts = split_path(path);
  const Module* owner = this;
  for (size_t i = 0; i + 1 < parts.size() && owner != nullptr; ++i) {
    const Module* next = nullptr;
    for (const auto& c : owner->children_) {
      if (c.first == parts[i]) next = c.second.get();
    }
    owner = next;
  }
  *leaf = parts.back();
  return owner;
}

bool Module::has_parameter(const std::string& path) const {
  std::string leaf;
  const Module* owner = find_owner(path, &leaf);
  if (owner == nullptr) return false;
  for (const auto& p : owner->parameters_) {
    if (p.first == leaf) return true;
  }
  return false;
}

bool Module::has_buffer(const std::string& path) const {
  std::string leaf;
  const Module* owner = find_owner(path, &leaf);
  if (owner == nullptr) return false;
  for (const auto& b : owner->buffers_) {
    if (b.name == leaf) return true;
  }
  return false;
}

Tensor Module::parameter(const std::string& path) const {
  std::string leaf;
  const Module& owner = resolve_owner(path, &leaf);
  for (const auto& p : owner.parameters_) {
    if (p.first == leaf) return p.second;
  }
  FF_THROW("{}: no parameter '{}' ({} has parameters {})", name(), path, owner.name(),
           list_names(owner.parameters_));
}

Tensor Module::buffer(const std::string& path) const {
  std::string leaf;
  const Module& owner = resolve_owner(path, &leaf);
  std::vector<std::string> names;
  for (const auto& b : owner.buffers_) {
    if (b.name == leaf) return b.tensor;
    names.push_back(b.name);
  }
  FF_THROW("{}: no buffer '{}' ({} has buffers [{}])", name(), path, owner.name(), fmt::join(names, ", "));
}

std::shared_ptr<Module> Module::child(const std::string& path) const {
  std::string leaf;
  const Module& owner = resolve_owner(path, &leaf);
  for (const auto& c : owner.children_) {
    if (c.first == leaf) return c.second;
  }
  FF_THROW("{}: no submodule '{}' ({} has children {})", name(), path, owner.name(), list_names(owner.children_));
}

// ---- traversal --------------------------------------------------------------------------------------------

void Module::visit(const std::function<void(const std::string&, Module&)>& fn, bool once) const {
  std::unordered_set<const Module*> seen;
  std::function<void(const std::string&, const Module&)> rec = [&](const std::string& prefix, const Module& m) {
    if (once && !seen.insert(&m).second) return;
    // Traversal hands out mutable modules, as named_children() does: constness of a tree
    // handle does not extend to the modules it shares.
    fn(prefix, const_cast<Module&>(m));
    for (const auto& c : m.children_) rec(join_path(prefix, c.first), *c.second);
  };
  rec("", *this);
}

std::vector<NamedTensor> Module::named_parameters(bool recurse) const {
  std::vector<NamedTensor> out;
  std::unordered_set<const TensorImpl*> seen;
  auto add_own = [&](const std::string& prefix, const Module& m) {
    for (const auto& p : m.parameters_) {
      if (seen.insert(p.second.impl()).second) out.emplace_back(join_path(prefix, p.first), p.second);
    }
  };
  if (!recurse) {
    add_own("", *this);
  } else {
    visit(add_own, /*once=*/true);
  }
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& p : named_parameters(recurse)) out.push_back(std::move(p.second));
  return out;
}

std::vector<NamedTensor> Module::named_buffers(bool recurse) const {
  std::vector<NamedTensor> out;
  std::unordered_set<const TensorImpl*> seen;
  auto add_own = [&](const std::string& prefix, const Module& m) {
    for (const auto& b : m.buffers_) {
      if (seen.insert(b.tensor.impl()).second) out.emplace_back(join_path(prefix, b.name), b.tensor);
    }
  };
  if (!recurse) {
    add_own("", *this);
  } else {
    visit(add_own, /*once=*/true);
  }
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& b : named_buffers(recurse)) out.push_back(std::move(b.second));
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& c : children_) out.push_back(c.second);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, Module*>> out;
  visit([&](const std::string& prefix, Module& m) { out.emplace_back(prefix, &m); }, /*once=*/true);
  return out;
}

std::vector<Module*> Module::modules() const {
  std::vector<Module*> out;
  visit([&](const std::string&, Module& m) { out.push_back(&m); }, /*once=*/true);
  return out;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (const auto& c : children_) c.second->apply(fn);
  fn(*this);
}

// ---- modes, gradients, freezing -----------------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (const auto& c : children_) c.second->train(on);
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.zero_grad();
}

int64_t Module::set_requires_grad_by_prefix(const std::string& prefix, bool requires_grad, const char* op) {
  int64_t selected = 0;
  for (auto& [path, param] : named_parameters()) {
    const bool match = prefix.empty() || path == prefix ||
                       (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
                        path[prefix.size()] == '.');
    if (!match) continue;
    FF_CHECK(!requires_grad || is_floating(param.dtype()), "{}.{}: parameter '{}' is {} and cannot require grad",
             name(), op, path, param.describe());
    param.set_requires_grad(requires_grad);
    ++selected;
  }
  if (!prefix.empty()) {
    std::vector<std::string> top_level;
    for (const auto& p : parameters_) top_level.push_back(p.first);
    for (const auto& c : children_) top_level.push_back(c.first);
    FF_CHECK(selected > 0, "{}.{}: no parameter is named '{}' or lies under it (top-level names: [{}])", name(),
             op, prefix, fmt::join(top_level, ", "));
  }
  return selected;
}

int64_t Module::freeze(const std::string& prefix) { return set_requires_grad_by_prefix(prefix, false, "freeze"); }
int64_t Module::unfreeze(const std::string& prefix) { return set_requires_grad_by_prefix(prefix, true, "unfreeze"); }

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t total = 0;
  for (const Tensor& p : parameters()) {
    if (!trainable_only || p.requires_grad()) total += p.numel();
  }
  return total;
}

// ---- printing -------------------------------------------------------------------------------------------

std::string Module::str() const {
  const std::string extra = extra_repr();
  if (children_.empty()) return name() + "(" + extra + ")";
  auto indent = [](const std::string& text) {
    std::string out;
    for (char c : text) {
      out += c;
      if (c == '\n') out += "  ";
    }
    return out;
  };
  std::string s = name() + "(";
  if (!extra.empty()) s += "\n  " + indent(extra);
  for (const auto& [local, child] : children_) s += "\n  (" + local + "): " + indent(child->str());
  s += "\n)";
  return s;
}

std::string repr_float(double value) {
  std::string s = fmt::format("{}", value);
  // fmt prints integral doubles without a point ("1"); Python writes "1.0".
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::ostream& operator<<(std::ostream& os, const Module& module) { return os << module.str(); }

}  // namespace ff::nn
