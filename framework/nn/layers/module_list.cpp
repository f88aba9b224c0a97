#include "framework/nn/layers/module_list.h"

namespace ff::nn {

ModuleSequence::ModuleSequence(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

const std::shared_ptr<Module>& ModuleSequence::operator[](int64_t index) const {
  const int64_t n = static_cast<int64_t>(modules_.size());
  FF_CHECK(index >= -n && index < n, "{}: index {} out of range for {} element(s)", name(), index, n);
  return modules_[static_cast<size_t>(index < 0 ? index + n : index)];
}

void ModuleSequence::append(const std::string& child_name, const std::shared_ptr<Module>& module) {
  register_module(child_name, module);  // validates the name and the module first
  modules_.push_back(module);
}

}  // namespace ff::nn
