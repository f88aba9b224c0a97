// Containers whose children are named by position: ModuleList (no forward) and, in
// sequential.h, Sequential (chains forward).
//
//   auto blocks = std::make_shared<nn::ModuleList>();
//   for (int i = 0; i < 3; ++i) blocks->push_back(std::make_shared<Block>());  // "0", "1", "2"
//   for (const auto& block : *blocks) x = block->forward(x);
//   auto first = blocks->at<Block>(0);  // typed access
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "framework/common/check.h"
#include "framework/nn/module.h"

namespace ff::nn {

// Shared base: an ordered list of children. A child added with push_back(module) is named by
// its position ("0", "1", ...); push_back(name, module) gives it an explicit name instead
// (names are still unique and dot-free).
class ModuleSequence : public Module {
 public:
  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }

  // `index` may be negative (from the end); throws naming the container when out of range.
  const std::shared_ptr<Module>& operator[](int64_t index) const;
  // The element as type M; throws when it is another type.
  template <typename M>
  std::shared_ptr<M> at(int64_t index) const {
    const std::shared_ptr<Module>& m = (*this)[index];
    std::shared_ptr<M> typed = std::dynamic_pointer_cast<M>(m);
    FF_CHECK(typed != nullptr, "{}.at({}): element is a {}, not the requested type", name(), index, m->name());
    return typed;
  }

  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    append(std::to_string(modules_.size()), module);
    return module;
  }
  template <typename M>
  std::shared_ptr<M> push_back(const std::string& child_name, std::shared_ptr<M> module) {
    append(child_name, module);
    return module;
  }
  // add(): the same as push_back (the spelling libtorch users know from Sequential).
  template <typename M>
  std::shared_ptr<M> add(std::shared_ptr<M> module) {
    return push_back(std::move(module));
  }
  template <typename M>
  std::shared_ptr<M> add(const std::string& child_name, std::shared_ptr<M> module) {
    return push_back(child_name, std::move(module));
  }

  std::vector<std::shared_ptr<Module>>::const_iterator begin() const { return modules_.begin(); }
  std::vector<std::shared_ptr<Module>>::const_iterator end() const { return modules_.end(); }

 protected:
  ModuleSequence() = default;
  explicit ModuleSequence(std::initializer_list<std::shared_ptr<Module>> modules);

 private:
  void append(const std::string& child_name, const std::shared_ptr<Module>& module);

  std::vector<std::shared_ptr<Module>> modules_;  // the children, in order, for indexing
};

// Holds submodules (so they are registered, moved, saved and printed) without defining how
// they are called.
class ModuleList : public ModuleSequence {
 public:
  ModuleList() = default;
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) : ModuleSequence(modules) {}
  std::string name() const override { return "ModuleList"; }
};

}  // namespace ff::nn
