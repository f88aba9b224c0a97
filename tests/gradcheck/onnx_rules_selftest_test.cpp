// Registry self-test, export half: every op registered with kOnnxExportable must have an ONNX
// export rule (framework/onnx/rules.h) and a replay function in the graph interpreter
// (framework/graph/interpreter.h), and neither table may name an op that is not exportable.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "framework/dispatch/registry.h"
#include "framework/graph/interpreter.h"
#include "framework/onnx/rules.h"

namespace ff {
namespace {

std::vector<std::string> exportable_ops() {
  std::vector<std::string> out;
  const auto& reg = dispatch::Registry::instance();
  for (const auto& name : reg.op_names())
    if (reg.op(name).info.onnx_exportable) out.push_back(name);
  return out;
}

// Exportable ops that `table` (any map keyed by op name) lacks.
template <typename Table>
std::vector<std::string> missing_from(const Table& table) {
  std::vector<std::string> missing;
  for (const auto& name : exportable_ops())
    if (!table.count(name)) missing.push_back(name);
  return missing;
}

TEST(RegistrySelfTest, EveryExportableOpHasAnOnnxRule) {
  ASSERT_GT(exportable_ops().size(), 40u) << "suspiciously few exportable ops registered";
  const auto missing = missing_from(onnx::onnx_rules());
  EXPECT_TRUE(missing.empty()) << "kOnnxExportable op '" << (missing.empty() ? "" : missing[0])
                               << "' has no ONNX export rule in framework/onnx/rules_*.cpp (" << missing.size()
                               << " missing)";
}

TEST(RegistrySelfTest, EveryExportableOpCanBeReplayed) {
  const auto missing = missing_from(graph::replay_functions());
  EXPECT_TRUE(missing.empty()) << "kOnnxExportable op '" << (missing.empty() ? "" : missing[0])
                               << "' has no replay function in framework/graph/interpreter.cpp";
}

TEST(RegistrySelfTest, ExportTablesNameOnlyExportableOps) {
  const auto exportable = exportable_ops();
  const std::set<std::string> known(exportable.begin(), exportable.end());
  for (const auto& [name, rule] : onnx::onnx_rules())
    EXPECT_TRUE(known.count(name)) << "ONNX rule for '" << name << "', which is not a kOnnxExportable op";
  for (const auto& [name, fn] : graph::replay_functions())
    EXPECT_TRUE(known.count(name)) << "replay function for '" << name << "', which is not a kOnnxExportable op";
}

// The check above is only worth something if a missing rule is noticed: drop one and look.
TEST(RegistrySelfTest, AMissingOnnxRuleIsReported) {
  onnx::RuleTable table = onnx::onnx_rules();
  ASSERT_EQ(table.erase("conv2d"), 1u);
  EXPECT_EQ(missing_from(table), std::vector<std::string>{"conv2d"});
}

}  // namespace
}  // namespace ff
