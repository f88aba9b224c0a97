// MasterWeights on 1, 2 and 3 ranks: broadcast (a 16-bit model whose ranks start apart ends with
// rank 0's float32 masters, exactly, and the model parameters their rounding), gradient
// accumulation in float32 over micro-batches, and averaging the accumulated gradients.
#include "apps/common/trainer_precision.h"

#include <gtest/gtest.h>

#include <cstring>

#include "framework/distributed/communicator.h"
#include "framework/autograd/autograd.h"
#include "ops/elementwise/binary.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/fill.h"

namespace ff::apps {
namespace {

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.sizes() == b.sizes() &&
         std::memcmp(a.contiguous().raw_data(), b.contiguous().raw_data(), a.numel() * a.element_size()) == 0;
}

// Float32 values that depend on `rank`, most of them not representable in float16.
Tensor rank_values(const Shape& shape, int rank, double offset) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(offset + 0.1234567 * (rank + 1) + 1e-4 * i);
  return tensor_from(v, shape);
}

TEST(MasterWeights, BroadcastGivesEveryRankTheRootsMastersAndModel) {
  distributed::Communicator& comm = distributed::world();
  const int rank = comm.rank();
  // One float16 parameter (its own float32 master) and one float32 parameter (its own master).
  Tensor half = rank_values({3, 5}, rank, 1.0).to(DType::Float16).set_requires_grad(true);
  Tensor full32 = rank_values({4}, rank, -2.0).set_requires_grad(true);
  MasterWeights master({{"a.weight", half}, {"b.bias", full32}});
  ASSERT_EQ(master.num_low_precision(), 1);
  // Rank-dependent float32 masters, as after an initialisation that differed between ranks.
  master.load({{"a.weight", rank_values({3, 5}, rank, 1.0)}, {"b.bias", rank_values({4}, rank, -2.0)}}, "test");

  master.broadcast(comm, 0);

  const Tensor want_a = rank_values({3, 5}, 0, 1.0), want_b = rank_values({4}, 0, -2.0);
  const StateDict got = master.named_params();
  EXPECT_TRUE(same_bytes(got.at("a.weight"), want_a)) << "rank " << rank;
  EXPECT_TRUE(same_bytes(got.at("b.bias"), want_b)) << "rank " << rank;
  EXPECT_TRUE(same_bytes(half.detach(), want_a.to(DType::Float16))) << "rank " << rank;
  EXPECT_TRUE(same_bytes(full32.detach(), want_b)) << "rank " << rank;
  // The float16 model cannot hold the masters: the broadcast must not have gone through it.
  EXPECT_FALSE(same_bytes(want_a.to(DType::Float16).to(DType::Float32), want_a));
}

// Two micro-batches whose float16 gradients, added in float16, lose the second one's small part:
// accumulate_grads sums them in float32. Then average_grads gives every rank the mean over ranks.
TEST(MasterWeights, AccumulatesMicroBatchGradientsInFloat32AndAveragesThem) {
  distributed::Communicator& comm = distributed::world();
  const int rank = comm.rank(), world = comm.world_size();
  Tensor half = tensor_from(std::vector<float>{1.0f, 1.0f}, {2}).to(DType::Float16).set_requires_grad(true);
  Tensor full32 = tensor_from(std::vector<float>{1.0f}, {1}).set_requires_grad(true);
  MasterWeights master({{"w", half}, {"b", full32}});
  // d/dw sum(w * c) = c: micro-batch gradients c1 = [1 + rank, 1], c2 = [2^-12, 3] (exact in fp16).
  const std::vector<std::vector<float>> grads = {{1.0f + static_cast<float>(rank), 1.0f}, {1.0f / 4096.0f, 3.0f}};
  for (const auto& c : grads) {
    const Tensor coeff = tensor_from(c, {2}).to(DType::Float16);
    add(sum(mul(half, coeff)).to(DType::Float32), sum(mul(full32, 2.0))).backward();
    master.accumulate_grads();
    EXPECT_FALSE(half.grad().defined()) << "the 16-bit gradient is moved into the master";
  }
  Tensor w_grad = master.params()[0].grad();
  ASSERT_TRUE(w_grad.defined());
  const std::vector<float> local = to_vector<float>(w_grad);
  EXPECT_EQ(local[0], 1.0f + rank + 1.0f / 4096.0f);  // a float16 sum would round it to 1 + rank
  EXPECT_EQ(local[1], 4.0f);
  EXPECT_EQ(to_vector<float>(full32.grad())[0], 4.0f);  // float32 parameter: its own .grad

  master.average_grads(comm);
  const std::vector<float> averaged = to_vector<float>(master.params()[0].grad());
  double mean_first = 0;
  for (int r = 0; r < world; ++r) mean_first += 1.0 + r + 1.0 / 4096.0;
  mean_first /= world;
  EXPECT_FLOAT_EQ(averaged[0], static_cast<float>(mean_first));
  EXPECT_EQ(averaged[1], 4.0f);
  EXPECT_EQ(to_vector<float>(full32.grad())[0], 4.0f);
}

}  // namespace
}  // namespace ff::apps
