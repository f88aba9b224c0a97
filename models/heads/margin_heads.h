// Margin-softmax heads: the presets of ArcFace, CosFace, combined margin and plain normalised
// softmax, and the single-process full-FC head built on the fused combined_margin op.
//
//   auto loss = heads::margin_softmax_loss(embeddings, weight, labels, heads::arcface());
//
// For many classes, or several ranks, use PartialFC (partial_fc.h), which computes the same
// loss with the class centres sharded and optionally sampled.
#pragma once

#include <string>

#include "framework/core/tensor.h"
#include "ops/margin/margin.h"

namespace ff::heads {

// s = 64 as in insightface's sample_config and arcface_torch's train_v2.py.
constexpr double kDefaultScale = 64.0;

MarginOptions arcface(double scale = kDefaultScale);                      // (1, 0.5, 0)
MarginOptions cosface(double m3 = 0.35, double scale = kDefaultScale);   // (1, 0, 0.35); arcface_torch configs use 0.4
MarginOptions combined(double scale = kDefaultScale);                     // (1, 0.3, 0.2)
MarginOptions normalized_softmax(double scale = kDefaultScale);          // (1, 0, 0)
// arcface_torch's config.margin_list (m1, m2, m3), validated.
MarginOptions from_margin_list(double m1, double m2, double m3, double scale = kDefaultScale);
// "arcface", "cosface" (0.35), "cosface0.4", "combined", "softmax"; anything else raises,
// listing the names.
MarginOptions margin_preset(const std::string& name, double scale = kDefaultScale);

// cosine logits [N, C] = normalize(embeddings [N, D]) · normalize(weight [C, D])ᵀ, in float32
// for 16-bit inputs (logits stay float32 under mixed precision), float64 for float64.
Tensor cosine_logits(const Tensor& embeddings, const Tensor& weight);

// Full FC + margin + softmax cross-entropy, mean over the N rows (labels in [0, C)).
// Differentiable in embeddings and weight.
Tensor margin_softmax_loss(const Tensor& embeddings, const Tensor& weight, const Tensor& labels,
                           const MarginOptions& margin);

}  // namespace ff::heads
