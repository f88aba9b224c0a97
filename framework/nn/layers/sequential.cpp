#include "framework/nn/layers/sequential.h"

#include "framework/common/check.h"

namespace ff::nn {

Tensor Sequential::forward(const Tensor& x) {
  Tensor out = x;
  for (const auto& [child_name, module] : named_children()) {
    try {
      out = module->forward(out);
    } catch (const Error& e) {
      // Nested containers each add a line, so the message ends with the path to the failing
      // layer, innermost first, like a traceback.
      throw Error(fmt::format("{}\n  in {} ({}): {}", e.what(), name(), child_name, module->name()));
    }
  }
  return out;
}

}  // namespace ff::nn
