#include "models/model_factory.h"

#include "framework/common/check.h"
#include "models/iresnet.h"
#include "models/mobilefacenet.h"

namespace ff::models {

namespace {

struct IResNetSpec {
  const char* name;
  std::vector<int64_t> blocks_per_stage;
};

const std::vector<IResNetSpec>& iresnet_specs() {
  static const std::vector<IResNetSpec> specs = {
      {"r18", {2, 2, 2, 2}},    {"r34", {3, 4, 6, 3}},    {"r50", {3, 4, 14, 3}},
      {"r100", {3, 13, 30, 3}}, {"r200", {6, 26, 60, 6}},
  };
  return specs;
}

}  // namespace

const std::vector<std::string>& backbone_names() {
  static const std::vector<std::string> names = {"r18", "r34", "r50", "r100", "r200", "mbf", "mbf_large"};
  return names;
}

std::shared_ptr<nn::Module> create_backbone(const std::string& name, const BackboneOptions& options) {
  for (const IResNetSpec& spec : iresnet_specs()) {
    if (name == spec.name) return std::make_shared<IResNet>(name, spec.blocks_per_stage, options);
  }
  if (name == "mbf") return std::make_shared<MobileFaceNet>(name, std::array<int64_t, 4>{1, 4, 6, 2}, 2, options);
  if (name == "mbf_large") {
    return std::make_shared<MobileFaceNet>(name, std::array<int64_t, 4>{2, 8, 12, 4}, 4, options);
  }
  FF_THROW("create_backbone: unknown network '{}'; valid names: {}", name, fmt::join(backbone_names(), ", "));
}

}  // namespace ff::models
