#include "models/backbone.h"

#include <algorithm>

#include "framework/common/check.h"
#include "framework/nn/layers/batch_norm.h"
#include "framework/nn/layers/conv2d.h"
#include "ops/tensor_ops/copy.h"

namespace ff::models {

namespace {

// True when the dotted module path `path` lies under one of the top-level `heads`.
bool in_head(const std::string& path, const std::vector<std::string>& heads) {
  const std::string top = path.substr(0, path.find('.'));
  return std::find(heads.begin(), heads.end(), top) != heads.end();
}

}  // namespace

Backbone::Backbone(std::string network, const BackboneOptions& options)
    : network_(std::move(network)), options_(options) {
  const BackboneOptions& o = options_;
  FF_CHECK(o.embedding_size > 0, "{}: embedding_size must be positive, got {}", network_, o.embedding_size);
  FF_CHECK(o.dropout >= 0.0 && o.dropout < 1.0, "{}: dropout must lie in [0, 1), got {}", network_, o.dropout);
  FF_CHECK(o.width_divisor >= 1, "{}: width_divisor must be at least 1, got {}", network_, o.width_divisor);
  FF_CHECK(o.input_size >= 16 && o.input_size % 16 == 0,
           "{}: input_size must be a positive multiple of 16 (the network downsamples 16x), got {}", network_,
           o.input_size);
  FF_CHECK(o.body_dtype == DType::Float32 || o.body_dtype == DType::Float16 || o.body_dtype == DType::BFloat16,
           "{}: body_dtype must be float32, float16 or bfloat16, got {}", network_, dtype_name(o.body_dtype));
}

int64_t Backbone::channels(int64_t reference) const {
  const int64_t d = options_.width_divisor;
  FF_CHECK(reference % d == 0, "{}: width_divisor {} does not divide the reference channel count {}", network_, d,
           reference);
  return reference / d;
}

void Backbone::check_input(const Tensor& x) const {
  check_defined(x, network_.c_str(), "x");
  const int64_t s = options_.input_size;
  FF_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) == s && x.size(3) == s,
           "{}: expected input [N, 3, {}, {}] (aligned face crops; the head is sized for {}x{}), got {}", network_, s,
           s, s, s, x.describe());
  FF_CHECK(is_floating(x.dtype()), "{}: expected a floating input, got {}", network_, x.describe());
}

void Backbone::set_body_dtype(DType dtype) {
  FF_CHECK(dtype == DType::Float32 || dtype == DType::Float16 || dtype == DType::BFloat16,
           "{}: body dtype must be float32, float16 or bfloat16, got {}", network_, dtype_name(dtype));
  const std::vector<std::string> heads = head_module_names();
  for (const auto& [path, module] : named_modules()) {
    if (path.empty() || in_head(path, heads)) continue;
    // Only leaves that own parameters: a container's to() would also reach its BatchNorms.
    if (!module->children().empty() || module->parameters(/*recurse=*/false).empty()) continue;
    if (dynamic_cast<nn::BatchNormBase*>(module) != nullptr) continue;
    module->to(dtype);
  }
  options_.body_dtype = dtype;
}

DType Backbone::body_dtype() const {
  const std::vector<std::string> heads = head_module_names();
  for (const auto& [path, module] : named_modules()) {
    if (path.empty() || in_head(path, heads)) continue;
    if (auto* conv = dynamic_cast<nn::Conv2d*>(module)) return conv->weight.dtype();
  }
  FF_ASSERT(false, "{}: the body has no convolution", network_);
  return DType::Float32;
}

Tensor cast_if_needed(const Tensor& x, DType dtype) { return x.dtype() == dtype ? x : cast(x, dtype); }

}  // namespace ff::models
