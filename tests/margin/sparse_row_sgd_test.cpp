// sparse_rows_sgd_update_ and SparseRowSGD: the rows given are updated with torch SGD
// semantics, every other row and its momentum stays bit-identical; dense parameters in the
// same optimizer follow plain SGD; errors name the bad argument.
#include <gtest/gtest.h>

#include <vector>

#include "framework/optim/sgd.h"
#include "models/heads/sparse_row_sgd.h"
#include "ops/partial_fc/sparse_rows_sgd.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/random.h"
#include "tests/margin/margin_test_util.h"

namespace ff {
namespace {

using margin_test::all_close;
using margin_test::host;
using margin_test::throws_error_with;

// torch SGD on one element with a zero-initialised buffer and no dampening.
double reference_step(double p, double g, double& buf, const SgdUpdateHyper& h) {
  double d = (h.maximize ? -g : g) + h.weight_decay * p;
  if (h.momentum != 0.0) {
    buf = h.momentum * buf + d;
    d = h.nesterov ? d + h.momentum * buf : buf;
  }
  return p - h.lr * d;
}

TEST(SparseRowsSgdUpdate, UpdatesOnlyTheGivenRows) {
  for (bool nesterov : {false, true}) {
    for (bool maximize : {false, true}) {
      Generator gen(1);
      const Tensor param = normal({6, 3}, 0.0, 1.0, DType::Float64, Device(), &gen);
      const Tensor buffer = normal({6, 3}, 0.0, 0.1, DType::Float64, Device(), &gen);
      const Tensor rows = tensor_from(std::vector<int64_t>{1, 4, 5}, {3});
      const Tensor grads = normal({3, 3}, 0.0, 1.0, DType::Float64, Device(), &gen);
      SgdUpdateHyper h;
      h.lr = 0.1, h.momentum = 0.9, h.weight_decay = 5e-4, h.nesterov = nesterov, h.maximize = maximize;
      std::vector<double> p = host(param), b = host(buffer);
      const std::vector<double> g = host(grads);
      const std::vector<int64_t> rv = {1, 4, 5};
      for (size_t k = 0; k < rv.size(); ++k) {
        for (int j = 0; j < 3; ++j) p[rv[k] * 3 + j] = reference_step(p[rv[k] * 3 + j], g[k * 3 + j], b[rv[k] * 3 + j], h);
      }
      const uint64_t version = param.version();
      sparse_rows_sgd_update_(param, buffer, rows, grads, h);
      EXPECT_TRUE(all_close(host(param), p, 1e-15));
      EXPECT_TRUE(all_close(host(buffer), b, 1e-15));
      EXPECT_GT(param.version(), version);
    }
  }
}

TEST(SparseRowsSgdUpdate, Float32WithoutMomentumAndStridedGrads) {
  Generator gen(2);
  const Tensor param = normal({5, 4}, 0.0, 1.0, DType::Float32, Device(), &gen);
  const Tensor grads = normal({4, 2}, 0.0, 1.0, DType::Float32, Device(), &gen).t();  // [2, 4], strided
  const std::vector<double> before = host(param), g = host(grads);
  SgdUpdateHyper h;
  h.lr = 0.5;
  sparse_rows_sgd_update_(param, Tensor(), tensor_from(std::vector<int64_t>{0, 3}, {2}), grads, h);
  std::vector<double> expected = before;
  for (int j = 0; j < 4; ++j) expected[0 * 4 + j] -= 0.5 * g[0 * 4 + j], expected[3 * 4 + j] -= 0.5 * g[1 * 4 + j];
  EXPECT_TRUE(all_close(host(param), expected, 1e-6));
}

TEST(SparseRowsSgdUpdate, ErrorsNameTheProblem) {
  const Tensor param = zeros({4, 2}, DType::Float32), buf = zeros({4, 2}, DType::Float32);
  const Tensor grads = zeros({2, 2}, DType::Float32);
  SgdUpdateHyper h;
  h.lr = 0.1, h.momentum = 0.9;
  EXPECT_TRUE(throws_error_with([&] { sparse_rows_sgd_update_(param, buf, tensor_from(std::vector<int64_t>{2, 1}, {2}), grads, h); },
                          {"strictly increasing", "rows[1] = 1"}));
  EXPECT_TRUE(throws_error_with([&] { sparse_rows_sgd_update_(param, buf, tensor_from(std::vector<int64_t>{1, 4}, {2}), grads, h); },
                          {"rows[1] = 4", "4 rows"}));
  EXPECT_TRUE(throws_error_with([&] { sparse_rows_sgd_update_(param, buf, tensor_from(std::vector<int64_t>{1}, {1}), grads, h); },
                          {"row_grads", "[1, 2]"}));
  h.dampening = 0.1;
  EXPECT_TRUE(throws_error_with([&] { sparse_rows_sgd_update_(param, buf, tensor_from(std::vector<int64_t>{0, 1}, {2}), grads, h); },
                          {"dampening"}));
}

TEST(SparseRowSGD, DenseAndSparseParametersInOneOptimizer) {
  Generator gen(3);
  Tensor dense = normal({3}, 0.0, 1.0, DType::Float64, Device(), &gen).set_requires_grad(true);
  const Tensor shard = normal({5, 2}, 0.0, 1.0, DType::Float64, Device(), &gen).set_requires_grad(true);
  heads::SparseRowSGD opt({optim::ParamGroup({dense}), optim::ParamGroup({shard}, {{"lr", 0.05}})},
                          optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-2));
  // Twin plain SGD on the dense parameter.
  Tensor twin = dense.detach().clone().set_requires_grad(true);
  optim::SGD plain({twin}, optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-2));
  heads::SparseRows pending;
  int consumed = 0;
  opt.set_sparse_grad_source(shard, [&] { return pending; }, [&] { pending = {}, ++consumed; });
  std::vector<double> w = host(shard), buf(10, 0.0);
  const std::vector<std::vector<int64_t>> steps = {{0, 3}, {3, 4}, {}};
  for (const auto& rows : steps) {
    const Tensor g = normal({3}, 0.0, 1.0, DType::Float64, Device(), &gen);
    dense.set_grad(g.clone()), twin.set_grad(g.clone());
    if (!rows.empty()) {
      pending.rows = tensor_from(rows, {static_cast<int64_t>(rows.size())});
      pending.values = normal({static_cast<int64_t>(rows.size()), 2}, 0.0, 1.0, DType::Float64, Device(), &gen);
      const std::vector<double> gv = host(pending.values);
      SgdUpdateHyper h;
      h.lr = 0.05, h.momentum = 0.9, h.weight_decay = 1e-2;
      for (size_t k = 0; k < rows.size(); ++k) {
        for (int j = 0; j < 2; ++j) w[rows[k] * 2 + j] = reference_step(w[rows[k] * 2 + j], gv[k * 2 + j], buf[rows[k] * 2 + j], h);
      }
    }
    opt.step(), plain.step();
    EXPECT_TRUE(all_close(host(shard), w, 1e-15));
    EXPECT_TRUE(all_close(host(dense), host(twin), 1e-15));
  }
  EXPECT_EQ(consumed, 2);
  EXPECT_TRUE(all_close(host(opt.state_tensor(1, 0, "momentum_buffer")), buf, 1e-15));
  // The momentum rows are checkpointed like any SGD buffer.
  EXPECT_TRUE(opt.state_dict().count("state.1.0.momentum_buffer"));
}

TEST(SparseRowSGD, RejectsForeignParametersAndDenseGradients) {
  Tensor shard = zeros({4, 2}, DType::Float32).set_requires_grad(true);
  const Tensor other = zeros({4, 2}, DType::Float32).set_requires_grad(true);
  heads::SparseRowSGD opt({shard}, optim::SGDOptions(0.1));
  EXPECT_TRUE(throws_error_with([&] { opt.set_sparse_grad_source(other, [] { return heads::SparseRows{}; }); },
                          {"not in any parameter group"}));
  opt.set_sparse_grad_source(shard, [] { return heads::SparseRows{}; });
  shard.set_grad(zeros({4, 2}, DType::Float32));
  EXPECT_TRUE(throws_error_with([&] { opt.step(); }, {"dense gradient"}));
}

}  // namespace
}  // namespace ff
