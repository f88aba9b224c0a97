#include "framework/dispatch/registry.h"

#include "framework/common/check.h"

namespace ff::dispatch {

Registry& Registry::instance() {
  static Registry r;
  return r;
}

void Registry::add_op(const std::string& name, OpInfo info) {
  auto& slot = ops_[name];
  if (!slot) {
    slot = std::make_unique<OpEntry>();
    slot->name = name;
  }
  // Kernels may be registered before the op itself (static init order across files).
  FF_CHECK(!slot->declared, "op '{}' registered twice", name);
  slot->declared = true;
  slot->info = info;
}

void Registry::add_kernel(const std::string& op, DeviceType device, DType dtype, std::any fn) {
  auto& slot = ops_[op];
  if (!slot) {
    slot = std::make_unique<OpEntry>();
    slot->name = op;
  }
  std::any& k = slot->kernels[static_cast<int>(device)][static_cast<int>(dtype)];
  FF_CHECK(!k.has_value(), "kernel for op '{}' on {} with dtype {} registered twice", op,
           device_type_name(device), dtype_name(dtype));
  k = std::move(fn);
}

const OpEntry& Registry::op(const std::string& name) const {
  auto it = ops_.find(name);
  FF_CHECK(it != ops_.end() && it->second->declared, "unknown op '{}': it is not registered", name);
  return *it->second;
}

bool Registry::has_op(const std::string& name) const {
  auto it = ops_.find(name);
  return it != ops_.end() && it->second->declared;
}

bool Registry::has_kernel(const std::string& op, DeviceType device, DType dtype) const {
  auto it = ops_.find(op);
  return it != ops_.end() && it->second->kernels[static_cast<int>(device)][static_cast<int>(dtype)].has_value();
}

std::vector<std::string> Registry::op_names() const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : ops_) {
    if (entry->declared) names.push_back(name);
  }
  return names;
}

std::vector<std::string> Registry::undeclared_kernel_ops() const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : ops_) {
    if (!entry->declared) names.push_back(name);
  }
  return names;
}

void throw_missing_kernel(const OpEntry& op, DeviceType device, DType dtype) {
  std::vector<std::string> have;
  for (int d = 0; d < kNumDeviceTypes; ++d) {
    for (int t = 0; t < kNumDTypes; ++t) {
      if (op.kernels[d][t].has_value()) {
        have.push_back(fmt::format("{}/{}", device_type_name(static_cast<DeviceType>(d)),
                                   dtype_name(static_cast<DType>(t))));
      }
    }
  }
  FF_THROW("op '{}' has no kernel for device {} and dtype {} (available: {})", op.name,
           device_type_name(device), dtype_name(dtype), have.empty() ? "none" : fmt::format("{}", fmt::join(have, ", ")));
}

void throw_kernel_type_mismatch(const OpEntry& op, DeviceType device, DType dtype, const char* wanted) {
  FF_ASSERT(false, "op '{}' kernel for {}/{} has a different signature than the caller expects ({})", op.name,
            device_type_name(device), dtype_name(dtype), wanted);
}

}  // namespace ff::dispatch
