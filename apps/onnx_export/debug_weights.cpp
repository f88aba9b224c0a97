#include "apps/onnx_export/debug_weights.h"

#include "framework/nn/layers/batch_norm.h"
#include "ops/tensor_ops/random.h"

namespace ff::apps {

int randomize_batch_norm_statistics(nn::Module& model, uint64_t seed) {
  Generator gen(seed);
  int changed = 0;
  for (auto* bn : model.modules_of_type<nn::BatchNormBase>()) {
    if (!bn->running_mean.defined()) continue;
    // detach(): parameters may require grad, and in-place writes are refused on those.
    uniform_(bn->running_mean.detach(), -0.5, 0.5, &gen);
    uniform_(bn->running_var.detach(), 0.5, 2.0, &gen);
    if (bn->weight.defined()) uniform_(bn->weight.detach(), 0.5, 1.5, &gen);
    if (bn->bias.defined()) uniform_(bn->bias.detach(), -0.3, 0.3, &gen);
    ++changed;
  }
  return changed;
}

}  // namespace ff::apps
