// Test-only weight changes for onnx_export --randomize-bn-stats: running statistics and affine
// parameters of every BatchNorm drawn at random, so that a check of the exported file exercises
// BN folding and BatchNormalization with non-trivial values (fresh models have mean 0, var 1).
#pragma once

#include <cstdint>

#include "framework/nn/module.h"

namespace ff::apps {

// mean ~ U(-0.5, 0.5), var ~ U(0.5, 2), weight ~ U(0.5, 1.5), bias ~ U(-0.3, 0.3), from `seed`.
// Returns the number of BatchNorm layers changed.
int randomize_batch_norm_statistics(nn::Module& model, uint64_t seed);

}  // namespace ff::apps
