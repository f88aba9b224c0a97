// GradientReducer's bucket layout, driven by hand in backward order on a world of one: with
// parameters of two dtypes interleaved (a 16-bit body with float32 BatchNorm), buckets must be
// runs of neighbouring layers so that they launch while backward is still running.
#include "framework/distributed/gradient_reducer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "framework/distributed/communicator.h"
#include "ops/tensor_ops/fill.h"

namespace ff::distributed {
namespace {

// 12 "layers" in registration order: conv (float16, 1024 elements = 2 KiB) then bn (float32,
// 2 x 16 elements), as a 16-bit IResNet body stores them.
std::vector<std::pair<std::string, Tensor>> mixed_layers() {
  std::vector<std::pair<std::string, Tensor>> params;
  for (int layer = 0; layer < 12; ++layer) {
    const std::string prefix = "layer" + std::to_string(layer);
    params.emplace_back(prefix + ".conv.weight", zeros({1024}, DType::Float16).set_requires_grad(true));
    params.emplace_back(prefix + ".bn.weight", zeros({16}).set_requires_grad(true));
    params.emplace_back(prefix + ".bn.bias", zeros({16}).set_requires_grad(true));
  }
  return params;
}

TEST(GradientReducer, MixedDtypeBucketsLaunchDuringBackward) {
  auto params = mixed_layers();
  // A 4 KiB cap: two conv weights per 16-bit bucket.
  GradientReducer reducer(params, world(), 4096);
  ASSERT_GT(reducer.num_buckets(), 6u);
  // Backward produces the gradients in reverse registration order.
  size_t launched_at_half = 0;
  for (size_t k = params.size(); k-- > 0;) {
    params[k].second.set_grad(ones_like(params[k].second));
    reducer.on_grad_ready(k);
    if (k == params.size() / 2) launched_at_half = reducer.num_launched();
  }
  // Half-way through backward, the buckets of the later half of the layers have started. (With
  // one float32 bucket spanning every layer's BatchNorm, nothing could start before the end.)
  EXPECT_GE(launched_at_half, reducer.num_buckets() / 2 - 1) << "of " << reducer.num_buckets();
  EXPECT_EQ(reducer.num_launched(), reducer.num_buckets());
  reducer.finish();
  for (const auto& [name, p] : params) EXPECT_EQ(to_vector<double>(p.grad().to(DType::Float64))[0], 1.0) << name;

  // Every bucket holds one dtype and a run of neighbouring layers: no bucket reaches back more
  // than two layers past where the previous buckets ended.
  for (const auto& bucket : reducer.bucket_parameter_names()) {
    int first_layer = 1000, last_layer = -1;
    for (const std::string& name : bucket) {
      const int layer = std::stoi(name.substr(5, name.find('.') - 5));
      first_layer = std::min(first_layer, layer);
      last_layer = std::max(last_layer, layer);
    }
    EXPECT_LE(last_layer - first_layer, 2) << "a bucket spans layers " << first_layer << " to " << last_layer;
  }
}

}  // namespace
}  // namespace ff::distributed
