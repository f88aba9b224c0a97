// The fused update ops called directly (the multi-tensor contract a CUDA kernel will share):
// list handling, strided operands, argument errors; and optimizers bucketing mixed dtypes.
#include <gtest/gtest.h>

#include <limits>

#include "framework/autograd/autograd.h"
#include "framework/optim/sgd.h"
#include "ops/optim/adamw_update.h"
#include "ops/optim/foreach.h"
#include "ops/optim/sgd_update.h"
#include "tests/optim/optim_test_util.h"

namespace ff {
namespace {

using testing::values;

Tensor vec(const std::vector<double>& v, DType dtype = DType::Float64) {
  Tensor t = tensor_from(v, {static_cast<int64_t>(v.size())});
  return dtype == DType::Float64 ? t : t.to(dtype);
}

TEST(SgdUpdateOp, ListWithFreshAndOldBuffers) {
  SgdUpdateLists l;
  l.params = {vec({1.0, 2.0}), vec({3.0})};
  l.grads = {vec({1.0, 1.0}), vec({2.0})};
  l.momentum_buffers = {vec({0.5, 0.5}), vec({123.0})};
  l.buffer_is_fresh = {0, 1};  // the second buffer's garbage is overwritten, not averaged
  SgdUpdateHyper h;
  h.lr = 0.1;
  h.momentum = 0.9;
  sgd_update_(l, h);
  // buf0 = 0.9 * 0.5 + 1 = 1.45; p0 = [1 - 0.145, 2 - 0.145]. buf1 = 2; p1 = 3 - 0.2.
  EXPECT_VALUES_NEAR(l.momentum_buffers[0], (std::vector<double>{1.45, 1.45}), 1e-15);
  EXPECT_VALUES_NEAR(l.params[0], (std::vector<double>{0.855, 1.855}), 1e-15);
  EXPECT_VALUES_NEAR(l.momentum_buffers[1], (std::vector<double>{2.0}), 0.0);
  EXPECT_VALUES_NEAR(l.params[1], (std::vector<double>{2.8}), 1e-15);
}

TEST(SgdUpdateOp, StridedGradAndBuffer) {
  // Param contiguous [2, 3]; grad a transposed view; buffer a strided slice.
  Tensor p = tensor_from(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor g = tensor_from(std::vector<double>{10, 40, 20, 50, 30, 60}, {3, 2}).t();  // = [[10,20,30],[40,50,60]]
  Tensor buf_base = zeros({2, 6}, DType::Float64);
  Tensor buf = buf_base.slice(1, 0, 6, 2);
  SgdUpdateLists l;
  l.params = {p};
  l.grads = {g};
  l.momentum_buffers = {buf};
  l.buffer_is_fresh = {1};
  SgdUpdateHyper h;
  h.lr = 0.01;
  h.momentum = 0.5;
  sgd_update_(l, h);
  EXPECT_VALUES_NEAR(p, (std::vector<double>{0.9, 1.8, 2.7, 3.6, 4.5, 5.4}), 1e-14);
  EXPECT_VALUES_NEAR(buf_base, (std::vector<double>{10, 0, 20, 0, 30, 0, 40, 0, 50, 0, 60, 0}), 0.0);
}

TEST(SgdUpdateOp, ArgumentErrors) {
  SgdUpdateHyper h;
  h.lr = 0.1;
  h.momentum = 0.9;
  SgdUpdateLists l;
  l.params = {vec({1.0, 2.0}, DType::Float16)};
  l.grads = {vec({1.0, 2.0}, DType::Float16)};
  l.momentum_buffers = {vec({0.0, 0.0}, DType::Float16)};  // must be float32 for float16 params
  l.buffer_is_fresh = {1};
  EXPECT_FF_ERROR(sgd_update_(l, h), "momentum_buffers[0]", "float16[2]", "expected float32[2]");
  l.momentum_buffers = {vec({0.0, 0.0}, DType::Float32)};
  l.grads = {};
  EXPECT_FF_ERROR(sgd_update_(l, h), "grads has 0 tensors", "1 parameters");
  l.grads = {vec({1.0, 2.0}, DType::Float16)};
  l.params.push_back(vec({1.0}));
  EXPECT_FF_ERROR(sgd_update_(l, h), "share device and dtype");
  l.params.pop_back();
  h.nesterov = true;
  h.dampening = 0.5;
  EXPECT_FF_ERROR(sgd_update_(l, h), "nesterov");
  h.nesterov = false;
  // An expanded (stride 0) parameter cannot be written in place.
  Tensor expanded = vec({1.0}).expand({3});
  SgdUpdateLists e;
  e.params = {expanded};
  e.grads = {vec({1.0, 1.0, 1.0})};
  EXPECT_FF_ERROR(sgd_update_(e, SgdUpdateHyper{}), "expanded view");
  // With grad mode on, a parameter that requires grad is protected like add_ does.
  Tensor leaf = vec({1.0});
  leaf.set_requires_grad(true);
  SgdUpdateLists r;
  r.params = {leaf};
  r.grads = {vec({1.0})};
  EXPECT_FF_ERROR(sgd_update_(r, SgdUpdateHyper{}), "NoGradGuard");
  autograd::NoGradGuard no_grad;
  sgd_update_(r, SgdUpdateHyper{});
}

TEST(AdamWUpdateOp, PerTensorStepCountsAndErrors) {
  // Two tensors at different steps get different bias corrections.
  AdamWUpdateLists l;
  l.params = {vec({0.0}, DType::Float32), vec({0.0}, DType::Float32)};
  l.grads = {vec({1.0}, DType::Float32), vec({1.0}, DType::Float32)};
  l.exp_avgs = {vec({0.0}, DType::Float32), vec({0.1}, DType::Float32)};
  l.exp_avg_sqs = {vec({0.0}, DType::Float32), vec({0.001}, DType::Float32)};
  l.steps = {1, 2};
  AdamWUpdateHyper h;
  h.lr = 0.1;
  h.weight_decay = 0.0;
  h.eps = 0.0;
  adamw_update_(l, h);
  EXPECT_NEAR(values(l.params[0])[0], -0.1, 1e-7);  // first step: lr * sign(g)
  // second: m = 0.19, v = 0.001999, bias corrections 0.19 and 0.001999: again exactly lr * 1.
  EXPECT_NEAR(values(l.params[1])[0], -0.1, 1e-6);
  l.steps = {0, 1};
  EXPECT_FF_ERROR(adamw_update_(l, h), "step count of parameter 0 is 0");
  l.steps = {1, 1};
  h.beta1 = 1.0;
  EXPECT_FF_ERROR(adamw_update_(l, h), "betas");
  h.beta1 = 0.9;
  h.amsgrad = true;
  EXPECT_FF_ERROR(adamw_update_(l, h), "max_exp_avg_sqs has 0 tensors");
}

TEST(ForeachOps, NormsAndScaleOnStridedAndHalfTensors) {
  Tensor base = tensor_from(std::vector<double>{3, 100, 4, 100}, {4});
  const Tensor strided = base.slice(0, 0, 4, 2);  // [3, 4]
  EXPECT_EQ(values(foreach_norm({strided, vec({0.0})}, 2.0)), (std::vector<double>{5.0, 0.0}));
  EXPECT_EQ(values(foreach_norm({vec({-9.0, 2.0}), zeros({0}, DType::Float64)}, std::numeric_limits<double>::infinity())),
            (std::vector<double>{9.0, 0.0}));
  Tensor h = vec({1.0, -2.0}, DType::BFloat16);
  foreach_scale_({h}, 0.5);
  EXPECT_EQ(values(h), (std::vector<double>{0.5, -1.0}));
  foreach_scale_({strided}, 2.0);
  EXPECT_EQ(values(base), (std::vector<double>{6, 100, 8, 100}));
  EXPECT_FF_ERROR(foreach_norm({vec({1.0}), vec({1.0}, DType::Float32)}, 2.0), "share device and dtype");
  EXPECT_FF_ERROR(foreach_norm({tensor_from(std::vector<int64_t>{1}, {1})}, 2.0), "floating types only");
  EXPECT_FF_ERROR(foreach_norm({vec({1.0})}, -1.0), "norm_type");
}

TEST(Optimizers, MixedDtypeGroupIsBucketed) {
  // One group holding float64, float32 and float16 parameters updates each like a group of its own.
  std::vector<Tensor> mixed = {testing::param({1.0, 2.0}), testing::param({1.0, 2.0}, DType::Float32),
                               testing::param({1.0, 2.0}, DType::Float16)};
  std::vector<Tensor> alone = {testing::param({1.0, 2.0}), testing::param({1.0, 2.0}, DType::Float32),
                               testing::param({1.0, 2.0}, DType::Float16)};
  const auto o = optim::SGDOptions(0.1).momentum(0.9).weight_decay(0.01);
  optim::SGD together(mixed, o);
  optim::SGD separately({optim::ParamGroup({alone[0]}), optim::ParamGroup({alone[1]}), optim::ParamGroup({alone[2]})},
                        o);
  for (int s = 0; s < 3; ++s) {
    for (auto* list : {&mixed, &alone}) {
      for (Tensor& p : *list) testing::set_grad(p, {0.5 - s, 0.25 * s});
    }
    together.step();
    separately.step();
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(values(mixed[i]), values(alone[i])) << "param " << i;
}

}  // namespace
}  // namespace ff
