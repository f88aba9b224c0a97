// Data parallel over the MPI world against one process that sees the whole global batch:
// same losses and parameters after SGD steps, several buckets, no_sync accumulation, parameters
// unused on some ranks, and BatchNorm statistics that stay local.
#include "framework/distributed/data_parallel.h"

#include <gtest/gtest.h>

#include "framework/autograd/autograd.h"
#include "framework/nn/nn.h"
#include "framework/optim/sgd.h"
#include "ops/elementwise/binary.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/random.h"
#include "tests/mpi_distributed/dist_test_util.h"

namespace ff {
namespace {

using distributed::Communicator;
using distributed::DataParallel;
using distributed::DataParallelOptions;
using distributed::ReduceOp;
using testing::det_tensor;
using testing::same_values;

Communicator& comm() { return distributed::world(); }

constexpr int64_t kLocalBatch = 3;

// Float64 MLP 6 -> 8 -> 4, initialised from `seed`.
std::shared_ptr<nn::Sequential> make_mlp(uint64_t seed) {
  manual_seed(seed);
  auto net = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(6, 8), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(8, 4)});
  net->to(DType::Float64);
  return net;
}

Tensor mse(const Tensor& y, const Tensor& target) {
  Tensor d = sub(y, target);
  return mean(mul(d, d));
}

// Rows [begin, begin + n) of the global data set of step `step`.
Tensor inputs(int step, int64_t begin, int64_t n) {
  return det_tensor({comm().world_size() * kLocalBatch * 2, 6}, 40 + step).narrow(0, begin, n).contiguous();
}
Tensor targets(int step, int64_t begin, int64_t n) {
  return det_tensor({comm().world_size() * kLocalBatch * 2, 4}, 80 + step).narrow(0, begin, n).contiguous();
}

TEST(DataParallel, MatchesOneProcessWithTheGlobalBatchOverThreeSgdSteps) {
  const int w = comm().world_size(), me = comm().rank();
  const int64_t global = w * kLocalBatch;
  // Rank-dependent init: the constructor must replace it with rank 0's parameters.
  auto model = make_mlp(1000 + static_cast<uint64_t>(me));
  DataParallelOptions options;
  options.bucket_cap_mb = 1e-4;  // ~100 bytes: every parameter gets its own bucket
  DataParallel dp(model, comm(), options);
  EXPECT_EQ(dp.num_buckets(), 4u);
  EXPECT_EQ(dp.bucket_parameter_names().front(), std::vector<std::string>{"2.bias"});  // reverse order

  auto reference = make_mlp(1000);  // rank 0's init, trained on the whole global batch
  optim::SGD opt(model->parameters(), optim::SGDOptions(0.1).momentum(0.9));
  optim::SGD ref_opt(reference->parameters(), optim::SGDOptions(0.1).momentum(0.9));

  for (int step = 0; step < 3; ++step) {
    Tensor loss = mse(dp.forward(inputs(step, me * kLocalBatch, kLocalBatch)), targets(step, me * kLocalBatch, kLocalBatch));
    loss.backward();
    dp.finish_gradient_sync();
    opt.step();
    opt.zero_grad();

    Tensor ref_loss = mse(reference->forward(inputs(step, 0, global)), targets(step, 0, global));
    ref_loss.backward();
    ref_opt.step();
    ref_opt.zero_grad();

    Tensor global_loss = loss.detach().contiguous().clone();
    comm().all_reduce(global_loss, ReduceOp::Avg);
    EXPECT_NEAR(global_loss.item<double>(), ref_loss.item<double>(), 1e-12) << "step " << step;
  }
  const auto params = model->named_parameters(), ref_params = reference->named_parameters();
  for (size_t k = 0; k < params.size(); ++k) {
    EXPECT_TRUE(same_values(params[k].second, ref_params[k].second, 1e-12)) << params[k].first;
  }
}

// Every rank must hold the same parameters in the same order. The last rank's network has the same
// tensors in another order (6->8, 8->6 against 8->6, 6->8: equal counts, elements and dims):
// every rank stops with the same error instead of pairing mismatched gradients.
TEST(DataParallel, RefusesAModuleWhoseLayoutDiffersBetweenRanks) {
  const bool odd_one_out = comm().world_size() > 1 && comm().rank() == comm().world_size() - 1;
  auto layer = [](int64_t in, int64_t out) { return std::make_shared<nn::Linear>(in, out); };
  auto net = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      odd_one_out ? layer(8, 6) : layer(6, 8), odd_one_out ? layer(6, 8) : layer(8, 6)});
  if (comm().world_size() == 1) {
    EXPECT_NO_THROW(DataParallel(net, comm()));
    return;
  }
  try {
    DataParallel dp(net, comm());
    FAIL() << "rank " << comm().rank() << ": expected ff::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the module differs between ranks 0 and " +
                                         std::to_string(comm().world_size() - 1)),
              std::string::npos)
        << e.what();
  }
}

TEST(DataParallel, DefaultCapPutsTheSmallModelInOneBucket) {
  DataParallel dp(make_mlp(7), comm());
  EXPECT_EQ(dp.num_buckets(), 1u);
  EXPECT_EQ(dp.bucket_parameter_names().front(),
            (std::vector<std::string>{"2.bias", "2.weight", "0.bias", "0.weight"}));
}

TEST(DataParallel, NoSyncAccumulatesLocallyThenAveragesTheSum) {
  const int w = comm().world_size(), me = comm().rank();
  auto model = make_mlp(2000);
  DataParallelOptions options;
  options.bucket_cap_mb = 2e-4;
  DataParallel dp(model, comm(), options);
  auto reference = make_mlp(2000);
  auto local_only = make_mlp(2000);

  // Micro-batch k of rank r: rows [(k w + r) B, +B) of the step-0 data; one process sees rows
  // [k w B, +w B) per micro-batch.
  auto rows = [&](int k, int r) { return (static_cast<int64_t>(k) * w + r) * kLocalBatch; };
  {
    auto guard = dp.no_sync();
    mse(dp.forward(inputs(0, rows(0, me), kLocalBatch)), targets(0, rows(0, me), kLocalBatch)).backward();
  }
  // No communication happened: the gradients are this rank's own.
  mse(local_only->forward(inputs(0, rows(0, me), kLocalBatch)), targets(0, rows(0, me), kLocalBatch)).backward();
  for (size_t k = 0; k < model->parameters().size(); ++k) {
    EXPECT_TRUE(same_values(model->parameters()[k].grad(), local_only->parameters()[k].grad(), 1e-14));
  }
  dp.finish_gradient_sync();  // not required here; a no-op only if no bucket is pending
  mse(dp.forward(inputs(0, rows(1, me), kLocalBatch)), targets(0, rows(1, me), kLocalBatch)).backward();
  dp.finish_gradient_sync();

  for (int k = 0; k < 2; ++k) {
    mse(reference->forward(inputs(0, rows(k, 0), w * kLocalBatch)), targets(0, rows(k, 0), w * kLocalBatch))
        .backward();
  }
  const auto params = model->named_parameters(), ref_params = reference->named_parameters();
  for (size_t k = 0; k < params.size(); ++k) {
    EXPECT_TRUE(same_values(params[k].second.grad(), ref_params[k].second.grad(), 1e-12)) << params[k].first;
  }
}

// Uses `extra` only on rank 0: the other ranks contribute zeros, every rank gets the average.
class PartlyUsed : public nn::Module {
 public:
  PartlyUsed() {
    main = register_parameter("main", det_tensor({3}, 1));
    extra = register_parameter("extra", det_tensor({3}, 2));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = mul(x, main);
    if (distributed::world().rank() == 0) y = add(y, mul(x, extra));
    return sum(y);
  }
  Tensor main, extra;
};

TEST(DataParallel, ParametersUnusedOnSomeRanksGetTheAverageEverywhere) {
  const int w = comm().world_size(), me = comm().rank();
  auto model = std::make_shared<PartlyUsed>();
  DataParallelOptions options;
  options.bucket_cap_mb = 1e-6;
  DataParallel dp(model, comm(), options);
  ASSERT_EQ(dp.num_buckets(), 2u);
  dp.forward(det_tensor({3}, 10 + me)).backward();
  dp.finish_gradient_sync();
  Tensor expected_main = zeros({3}, DType::Float64), expected_extra = det_tensor({3}, 10);
  for (int r = 0; r < w; ++r) expected_main = add(expected_main, det_tensor({3}, 10 + r));
  EXPECT_TRUE(same_values(model->main.grad(), div(expected_main, w), 1e-14));
  EXPECT_TRUE(same_values(model->extra.grad(), div(expected_extra, w), 1e-14));
}

TEST(DataParallel, SecondBackwardWithoutFinishIsAnError) {
  auto model = std::make_shared<PartlyUsed>();
  DataParallel dp(model, comm());
  dp.forward(det_tensor({3}, 1)).backward();
  dp.finish_gradient_sync();
  // One backward after a finish is fine; a second one before the next finish is refused (by
  // every rank alike: `main` shares its bucket with `extra`, so nothing was launched yet).
  model->zero_grad();
  auto loss = [&] { return mul(sum(mul(det_tensor({3}, 1), model->main)), 1.0); };
  EXPECT_NO_THROW(loss().backward());
  EXPECT_THROW(loss().backward(), Error);
  dp.finish_gradient_sync();
}

TEST(DataParallel, BatchNormStatisticsAreBroadcastOnceThenStayLocal) {
  const int me = comm().rank();
  manual_seed(5);
  auto bn = std::make_shared<nn::BatchNorm1d>(2);
  bn->to(DType::Float64);
  {
    autograd::NoGradGuard no_grad;
    bn->buffer("running_mean").fill_(static_cast<double>(me));  // differs per rank before DP
  }
  DataParallel dp(bn, comm());
  EXPECT_TRUE(same_values(bn->buffer("running_mean"), zeros({2}, DType::Float64)));
  dp.forward(add(det_tensor({4, 2}, 3), static_cast<double>(me))).backward(ones({4, 2}, DType::Float64));
  dp.finish_gradient_sync();
  Tensor mean0 = bn->buffer("running_mean").clone();
  comm().broadcast(mean0, 0);
  if (me == 0) {
    EXPECT_TRUE(same_values(bn->buffer("running_mean"), mean0));
  } else {
    EXPECT_FALSE(same_values(bn->buffer("running_mean"), mean0));  // its own batch statistics
  }
}

}  // namespace
}  // namespace ff
