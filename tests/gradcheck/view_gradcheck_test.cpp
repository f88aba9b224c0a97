// Gradient checks for views and copies: reshape, slice, select, permute, expand, contiguous, cast.
#include "ops/elementwise/binary.h"
#include "ops/tensor_ops/copy.h"
#include "tests/common/gradcheck_registry.h"

namespace ff {
namespace {

using testing::leaf;
using V = std::vector<Tensor>;

FF_GRADCHECK_TEST(reshape, views) {
  Tensor x = leaf({2, 3, 4}, 1);
  EXPECT_GRADCHECK("reshape", [](const V& in) { return V{in[0].reshape({6, 4})}; }, {x});
  EXPECT_GRADCHECK("reshape", [](const V& in) { return V{in[0].view({-1})}; }, {x});
  EXPECT_GRADCHECK("reshape", [](const V& in) { return V{in[0].unsqueeze(1).squeeze(1).flatten(1)}; }, {x});
  // Reshape of a non-contiguous view goes through a copy.
  EXPECT_GRADCHECK("reshape", [](const V& in) { return V{in[0].transpose(0, 2).reshape({4, 6})}; }, {x});
}

FF_GRADCHECK_TEST(slice, ranges) {
  Tensor x = leaf({5, 7}, 2);
  EXPECT_GRADCHECK("slice", [](const V& in) { return V{in[0].slice(1, 1, 6, 2)}; }, {x});
  EXPECT_GRADCHECK("slice", [](const V& in) { return V{in[0].slice(0, -3, 5)}; }, {x});
  EXPECT_GRADCHECK("slice", [](const V& in) { return V{in[0].narrow(1, 2, 3)}; }, {x});
}

FF_GRADCHECK_TEST(select, index) {
  Tensor x = leaf({3, 4, 5}, 3);
  EXPECT_GRADCHECK("select", [](const V& in) { return V{in[0].select(1, 2)}; }, {x});
  EXPECT_GRADCHECK("select", [](const V& in) { return V{in[0].select(-1, -1)}; }, {x});
}

FF_GRADCHECK_TEST(permute, dims) {
  Tensor x = leaf({2, 3, 4}, 4);
  EXPECT_GRADCHECK("permute", [](const V& in) { return V{in[0].permute({2, 0, 1})}; }, {x});
  EXPECT_GRADCHECK("permute", [](const V& in) { return V{in[0].transpose(0, 1)}; }, {x});
}

FF_GRADCHECK_TEST(expand, broadcast) {
  Tensor x = leaf({3, 1}, 5);
  EXPECT_GRADCHECK("expand", [](const V& in) { return V{in[0].expand({2, 3, 4})}; }, {x});
  EXPECT_GRADCHECK("expand", [](const V& in) { return V{in[0].expand({-1, 5})}; }, {x});
}

FF_GRADCHECK_TEST(contiguous, copy) {
  Tensor x = leaf({4, 3}, 6);
  EXPECT_GRADCHECK("contiguous", [](const V& in) { return V{in[0].t().contiguous()}; }, {x});
  EXPECT_GRADCHECK("contiguous", [](const V& in) { return V{in[0].clone()}; }, {x});
}

FF_GRADCHECK_TEST(cast, float32_roundtrip) {
  // Through float32 and back: the cast backward casts the gradient back to float64.
  Tensor x = leaf({3, 5}, 7);
  autograd::GradcheckOptions loose;
  loose.eps = 1e-3;  // float32 resolution
  loose.atol = 1e-4;
  loose.rtol = 1e-3;
  EXPECT_GRADCHECK("cast", [](const V& in) { return V{mul(cast(in[0], DType::Float32), 2.0)}; }, {x}, loose);
}

}  // namespace
}  // namespace ff

namespace ff {
namespace {

FF_GRADCHECK_TEST(to_device, cpu_cuda_roundtrip) {
  if (!has_backend(DeviceType::CUDA) || backend_for(DeviceType::CUDA).device_count() == 0) {
    GTEST_SKIP() << "no CUDA device: the cpu<->cuda copy gradient needs one";
  }
  Tensor x = testing::leaf({3, 4}, 8);
  EXPECT_GRADCHECK("to_device", [](const V& in) { return V{in[0].to(Device(DeviceType::CUDA)).to(Device())}; }, {x});
}

}  // namespace
}  // namespace ff
