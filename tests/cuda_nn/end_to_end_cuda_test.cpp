// A small ArcFace-shaped network through the public ops and autograd on CPU and on CUDA: conv,
// batch norm, prelu, depthwise conv, relu, max pool, dropout, linear, l2_normalize, matmul,
// cross-entropy; then a loss-scaled SGD step. The CUDA run must match the CPU run (fp32,
// tolerance 1e-4 relative: cuDNN and cuBLAS sum in other orders). This also exercises the
// CUDA kernels of other ops the backward needs (sum, mul, copy, fill, add).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "framework/amp/grad_scaler.h"
#include "framework/optim/sgd.h"
#include "ops/activation/activation.h"
#include "ops/conv/conv2d.h"
#include "ops/linalg/matmul.h"
#include "ops/norm/batch_norm.h"
#include "ops/norm/l2_normalize.h"
#include "ops/pool/pool.h"
#include "ops/softmax/softmax.h"
#include "tests/cuda_nn/cuda_nn_test_util.h"

namespace ff {
namespace {

using namespace cuda_test;

struct Net {
  std::map<std::string, Tensor> p;  // parameters (leaves requiring grad)
  Tensor running_mean, running_var;
};

Net make_net(Device d) {
  Net n;
  auto leaf = [&](const Shape& s, uint64_t seed, double lo, double hi) {
    Tensor t = rand_cpu(s, seed, DType::Float32, lo, hi);
    if (d.is_cuda()) t = to_gpu(t);
    t.set_requires_grad(true);
    return t;
  };
  n.p["conv1.w"] = leaf({8, 3, 3, 3}, 1, -0.4, 0.4);
  n.p["conv1.b"] = leaf({8}, 2, -0.1, 0.1);
  n.p["bn.w"] = leaf({8}, 3, 0.8, 1.2);
  n.p["bn.b"] = leaf({8}, 4, -0.1, 0.1);
  n.p["prelu"] = leaf({8}, 5, 0.1, 0.3);
  n.p["dw.w"] = leaf({8, 1, 3, 3}, 6, -0.5, 0.5);
  n.p["fc.w"] = leaf({16, 8 * 6 * 6}, 7, -0.05, 0.05);
  n.p["fc.b"] = leaf({16}, 8, -0.05, 0.05);
  n.p["centres"] = leaf({10, 16}, 9, -1.0, 1.0);
  n.running_mean = zeros({8}, DType::Float32, d);
  n.running_var = ones({8}, DType::Float32, d);
  return n;
}

Tensor forward_loss(Net& n, const Tensor& x, const Tensor& target) {
  Conv2dParams pad1;
  pad1.padding = {1, 1};
  Conv2dParams dw = pad1;
  dw.groups = 8;
  Tensor y = conv2d(x, n.p["conv1.w"], n.p["conv1.b"], pad1);
  y = batch_norm(y, n.p["bn.w"], n.p["bn.b"], n.running_mean, n.running_var, true);
  y = prelu(y, n.p["prelu"]);
  y = relu(conv2d(y, n.p["dw.w"], Tensor(), dw));
  Pool2dParams pool;
  pool.kernel = {2, 2};
  y = max_pool2d(y, pool).flatten(1);
  Generator g(77);
  y = dropout(y, 0.1, true, &g);
  Tensor emb = l2_normalize(linear(y, n.p["fc.w"], n.p["fc.b"]), 1);
  Tensor centres = l2_normalize(n.p["centres"], 1);
  Tensor logits = matmul(emb, centres.t()) * 16.0;
  return cross_entropy(logits, target);
}

TEST(CudaEndToEnd, SmallNetworkForwardBackwardAndScaledSgdStepMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  const Tensor x = rand_cpu({4, 3, 12, 12}, 50);
  const Tensor target = tensor_from(std::vector<int64_t>{3, 7, 0, 9}, {4});
  Net cpu = make_net(Device());
  Net dev = make_net(cuda0());

  const Tensor loss_cpu = forward_loss(cpu, x, target);
  const Tensor loss_dev = forward_loss(dev, to_gpu(x), to_gpu(target));
  EXPECT_TRUE(close(loss_dev, loss_cpu, 1e-5, 1e-5, "loss"));
  EXPECT_TRUE(close(dev.running_mean, cpu.running_mean, 1e-5, 1e-4, "running_mean"));
  EXPECT_TRUE(close(dev.running_var, cpu.running_var, 1e-5, 1e-4, "running_var"));

  amp::GradScaler scaler_cpu(amp::GradScalerOptions().init_scale(1024.0));
  amp::GradScaler scaler_dev(amp::GradScalerOptions().init_scale(1024.0));
  scaler_cpu.scale(loss_cpu).backward();
  scaler_dev.scale(loss_dev).backward();
  for (auto& [name, t] : cpu.p) {
    ASSERT_TRUE(dev.p[name].grad().defined()) << name;
    const Tensor g = t.grad();
    const double mag = to_vector<double>(g).empty() ? 1.0 : 1024.0;
    EXPECT_TRUE(close(dev.p[name].grad(), g, 1e-4 * mag, 1e-3, "grad " + name));
  }

  std::vector<Tensor> pc, pd;
  for (auto& [name, t] : cpu.p) pc.push_back(t);
  for (auto& [name, t] : dev.p) pd.push_back(t);
  optim::SGD opt_cpu(pc, optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
  optim::SGD opt_dev(pd, optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
  EXPECT_TRUE(scaler_cpu.step(opt_cpu));
  EXPECT_TRUE(scaler_dev.step(opt_dev));
  scaler_cpu.update();
  scaler_dev.update();
  for (auto& [name, t] : cpu.p) EXPECT_TRUE(close(dev.p[name], t, 1e-5, 1e-4, "updated " + name));
}

}  // namespace
}  // namespace ff
