// Module state: state_dict(), load_state_dict() and the dtype/device conversions.
#include <set>
#include <unordered_set>

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "framework/nn/module.h"

namespace ff::nn {

namespace {

std::string join_path(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::string quoted_list(const std::vector<std::string>& keys) {
  std::vector<std::string> quoted;
  quoted.reserve(keys.size());
  for (const auto& k : keys) quoted.push_back("\"" + k + "\"");
  return fmt::format("[{}]", fmt::join(quoted, ", "));
}

// Points `target`'s TensorImpl at `source`'s data. The impl itself survives, and with it the
// autograd state (requires_grad, leaf-ness, grad-ready hooks) and every handle aliasing it:
// the layer's member, an optimizer's parameter list, a data-parallel reducer. This is what
// PyTorch does with `param.data = converted`.
void replace_data(const Tensor& target, const Tensor& source) {
  FF_ASSERT(target.defined() && source.defined(), "replace_data on an undefined tensor");
  FF_ASSERT(target.is_leaf(), "replace_data on a non-leaf tensor {}", target.describe());
  TensorImpl* impl = target.impl();
  impl->storage = source.storage();
  impl->sizes = source.sizes();
  impl->strides = source.strides();
  impl->offset = source.storage_offset();
  impl->dtype = source.dtype();
}

}  // namespace

// ---- state ------------------------------------------------------------------------------------------------

std::vector<NamedTensor> Module::state_entries() const {
  std::vector<NamedTensor> out;
  // Like PyTorch, a module shared under two paths appears under both: the key set then
  // matches the module structure whatever is shared.
  visit(
      [&](const std::string& prefix, Module& m) {
        for (const auto& p : m.parameters_) out.emplace_back(join_path(prefix, p.first), p.second);
        for (const auto& b : m.buffers_) {
          if (b.persistent) out.emplace_back(join_path(prefix, b.name), b.tensor);
        }
      },
      /*once=*/false);
  return out;
}

StateDict Module::state_dict() const {
  StateDict dict;
  for (const auto& [key, t] : state_entries()) dict.emplace(key, t.detach());
  return dict;
}

LoadStateDictResult Module::load_state_dict(const StateDict& dict, bool strict) {
  const std::vector<NamedTensor> targets = state_entries();
  LoadStateDictResult result;
  std::vector<std::string> mismatches;  // shape, dtype-kind and undefined-value problems
  std::set<std::string> expected;
  std::vector<std::pair<Tensor, Tensor>> copies;  // (module tensor, value)

  for (const auto& [key, target] : targets) {
    expected.insert(key);
    const auto it = dict.find(key);
    if (it == dict.end()) {
      result.missing_keys.push_back(key);
      continue;
    }
    const Tensor& value = it->second;
    if (!value.defined()) {
      mismatches.push_back(fmt::format("value for \"{}\" is an undefined tensor", key));
      continue;
    }
    bool ok = true;
    if (value.sizes() != target.sizes()) {
      mismatches.push_back(fmt::format("size mismatch for \"{}\": checkpoint has {}, model has {}", key,
                                       shape_str(value.sizes()), shape_str(target.sizes())));
      ok = false;
    }
    if (is_floating(value.dtype()) != is_floating(target.dtype())) {
      mismatches.push_back(fmt::format("dtype mismatch for \"{}\": checkpoint has {}, model has {}", key,
                                       dtype_name(value.dtype()), dtype_name(target.dtype())));
      ok = false;
    }
    if (ok) copies.emplace_back(target, value);
  }
  for (const auto& entry : dict) {
    if (!expected.count(entry.first)) result.unexpected_keys.push_back(entry.first);
  }

  const bool key_problems = strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty());
  if (key_problems || !mismatches.empty()) {
    std::string msg = fmt::format("load_state_dict: cannot load into {}:", name());
    if (strict && !result.missing_keys.empty()) {
      msg += fmt::format("\n  missing keys ({}): {}", result.missing_keys.size(), quoted_list(result.missing_keys));
    }
    if (strict && !result.unexpected_keys.empty()) {
      msg += fmt::format("\n  unexpected keys ({}): {}", result.unexpected_keys.size(),
                         quoted_list(result.unexpected_keys));
    }
    for (const auto& m : mismatches) msg += "\n  " + m;
    FF_THROW("{}", msg);
  }

  autograd::NoGradGuard no_grad;
  for (auto& [target, value] : copies) {
    Tensor destination = target;
    destination.copy_(value);  // converts dtype and device; bumps the version
  }
  return result;
}

// ---- conversion ------------------------------------------------------------------------------------------

void Module::convert_tensors(const std::function<Tensor(const Tensor&)>& convert) {
  autograd::NoGradGuard no_grad;
  std::unordered_set<const TensorImpl*> seen;
  for (Module* m : modules()) {
    for (auto& p : m->parameters_) {
      Tensor& param = p.second;
      if (!seen.insert(param.impl()).second) continue;
      if (Tensor converted = convert(param.detach()); converted.defined()) replace_data(param, converted);
      if (Tensor g = param.grad(); g.defined()) {
        if (Tensor converted = convert(g); converted.defined()) param.set_grad(converted);
      }
    }
    for (auto& b : m->buffers_) {
      if (!seen.insert(b.tensor.impl()).second) continue;
      if (!b.tensor.is_leaf()) continue;  // a buffer computed with history: leave it to its owner
      if (Tensor converted = convert(b.tensor.detach()); converted.defined()) replace_data(b.tensor, converted);
    }
  }
}

Module& Module::to(Device device) {
  convert_tensors([device](const Tensor& t) { return t.device() == device ? Tensor() : t.to(device); });
  return *this;
}

Module& Module::to(DType dtype) {
  FF_CHECK(is_floating(dtype), "{}.to: modules can only be cast to a floating dtype, got {}", name(),
           dtype_name(dtype));
  convert_tensors([dtype](const Tensor& t) {
    return !is_floating(t.dtype()) || t.dtype() == dtype ? Tensor() : t.to(dtype).contiguous();
  });
  return *this;
}

}  // namespace ff::nn
