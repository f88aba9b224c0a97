// The registry self-test: every registered op must have a CPU kernel (unless it is a
// device-agnostic view or composite), and every differentiable op a gradient check in this
// executable. Adding an op without them turns this test red.
#include <gtest/gtest.h>

#include "framework/dispatch/registry.h"
#include "tests/common/gradcheck_registry.h"

namespace ff {
namespace {

bool has_any_cpu_kernel(const dispatch::OpEntry& e) {
  for (int t = 0; t < kNumDTypes; ++t) {
    if (e.kernels[static_cast<int>(DeviceType::CPU)][t].has_value()) return true;
  }
  return false;
}

TEST(RegistrySelfTest, EveryOpHasACpuKernel) {
  const auto& reg = dispatch::Registry::instance();
  ASSERT_GT(reg.op_names().size(), 20u) << "suspiciously few ops registered";
  for (const auto& name : reg.op_names()) {
    const auto& e = reg.op(name);
    if (e.info.device_agnostic) continue;
    EXPECT_TRUE(has_any_cpu_kernel(e)) << "op '" << name << "' has no CPU kernel";
  }
}

TEST(RegistrySelfTest, DifferentiableFloatOpsHaveFloat64Kernels) {
  // Gradient checks run in float64, so every differentiable op needs a float64 CPU kernel.
  const auto& reg = dispatch::Registry::instance();
  for (const auto& name : reg.op_names()) {
    const auto& e = reg.op(name);
    if (!e.info.differentiable || e.info.device_agnostic) continue;
    EXPECT_TRUE(reg.has_kernel(name, DeviceType::CPU, DType::Float64)) << "op '" << name << "' lacks a float64 CPU kernel";
    EXPECT_TRUE(reg.has_kernel(name, DeviceType::CPU, DType::Float32)) << "op '" << name << "' lacks a float32 CPU kernel";
  }
}

TEST(RegistrySelfTest, EveryDifferentiableOpHasAGradientCheck) {
  const auto& covered = testing::gradcheck_covered_ops();
  for (const auto& name : dispatch::Registry::instance().op_names()) {
    if (!dispatch::Registry::instance().op(name).info.differentiable) continue;
    EXPECT_TRUE(covered.count(name)) << "differentiable op '" << name
                                     << "' has no FF_GRADCHECK_TEST in tests/gradcheck/";
  }
}

TEST(RegistrySelfTest, NoKernelsForUndeclaredOps) {
  const auto orphans = dispatch::Registry::instance().undeclared_kernel_ops();
  EXPECT_TRUE(orphans.empty()) << "kernels registered for undeclared ops, e.g. '" << (orphans.empty() ? "" : orphans[0])
                               << "'";
}

TEST(RegistrySelfTest, CoveredOpsExist) {
  for (const auto& name : testing::gradcheck_covered_ops()) {
    EXPECT_TRUE(dispatch::Registry::instance().has_op(name)) << "gradcheck covers unknown op '" << name << "'";
  }
}

TEST(RegistrySelfTest, MissingKernelErrorNamesOpDeviceAndDtype) {
  dispatch::OpHandle h("exp");
  try {
    (void)h.kernel<void (*)()>(DeviceType::CPU, DType::Int32);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("exp"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
    EXPECT_NE(msg.find("int32"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace ff
