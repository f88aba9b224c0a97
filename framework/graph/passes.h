// Graph rewrites for inference export. Each pass keeps the graph's outputs (names and values,
// up to float rounding for fold_batch_norm) and returns how many nodes it removed.
#pragma once

#include "framework/graph/graph.h"

namespace ff::graph {

// Folds an eval-mode batch_norm into the conv2d (or linear) that produces its input, when that
// conv/linear output has no other reader and its weight, bias and the BN's parameters and
// statistics are all initializers:
//   s = gamma / sqrt(var + eps);  W' = W * s (per output channel);  b' = (b - mean) * s + beta.
// The arithmetic is done in float64 and cast back to the weight's dtype.
int fold_batch_norm(Graph& g);

// Removes dropout nodes that are identities (eval mode, or p == 0). A training-mode dropout
// with p > 0 is left alone (the ONNX rule refuses it, naming the node).
int remove_dropout(Graph& g);

// Removes nodes that return their input unchanged: cast to the same dtype, reshape/expand to
// the same shape, identity permutation, full-range slice with step 1.
int remove_identities(Graph& g);

// Removes nodes none of whose outputs is read, then unused initializers (returns nodes removed).
int eliminate_dead_code(Graph& g);

struct PassOptions {
  bool fold_bn = false;
};
// remove_dropout, remove_identities, [fold_batch_norm,] eliminate_dead_code; then validate().
void run_inference_passes(Graph& g, const PassOptions& options);

}  // namespace ff::graph
