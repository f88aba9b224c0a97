#include "models/heads/margin_heads.h"

#include "ops/linalg/matmul.h"
#include "ops/norm/l2_normalize.h"
#include "ops/softmax/softmax.h"

namespace ff::heads {

namespace {
MarginOptions make(double m1, double m2, double m3, double scale) {
  MarginOptions o;
  o.m1 = m1, o.m2 = m2, o.m3 = m3, o.scale = scale;
  o.validate();
  return o;
}
}  // namespace

MarginOptions arcface(double scale) { return make(1.0, 0.5, 0.0, scale); }
MarginOptions cosface(double m3, double scale) { return make(1.0, 0.0, m3, scale); }
MarginOptions combined(double scale) { return make(1.0, 0.3, 0.2, scale); }
MarginOptions normalized_softmax(double scale) { return make(1.0, 0.0, 0.0, scale); }
MarginOptions from_margin_list(double m1, double m2, double m3, double scale) { return make(m1, m2, m3, scale); }

MarginOptions margin_preset(const std::string& name, double scale) {
  if (name == "arcface") return arcface(scale);
  if (name == "cosface") return cosface(0.35, scale);
  if (name == "cosface0.4") return cosface(0.4, scale);
  if (name == "combined") return combined(scale);
  if (name == "softmax") return normalized_softmax(scale);
  FF_THROW("unknown margin preset '{}'; known presets: arcface, cosface, cosface0.4, combined, softmax", name);
}

Tensor cosine_logits(const Tensor& embeddings, const Tensor& weight) {
  check_defined(embeddings, "cosine_logits", "embeddings");
  check_defined(weight, "cosine_logits", "weight");
  FF_CHECK(embeddings.dim() == 2 && weight.dim() == 2 && embeddings.size(1) == weight.size(1),
           "cosine_logits: embeddings {} and class centres {} must be [N, D] and [C, D] with the same D",
           embeddings.describe(), weight.describe());
  const DType compute = embeddings.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  const Tensor e = embeddings.dtype() == compute ? embeddings : embeddings.to(compute);
  const Tensor w = weight.dtype() == compute ? weight : weight.to(compute);
  return linear(l2_normalize(e, 1), l2_normalize(w, 1));
}

Tensor margin_softmax_loss(const Tensor& embeddings, const Tensor& weight, const Tensor& labels,
                           const MarginOptions& margin) {
  const Tensor logits = combined_margin(cosine_logits(embeddings, weight), labels, margin);
  return cross_entropy(logits, labels);
}

}  // namespace ff::heads
