// MasterWeights::broadcast on 1, 2 and 3 ranks: with a 16-bit model whose ranks start apart,
// every rank ends with rank 0's float32 masters (exactly, including values a 16-bit weight cannot
// hold) and the model parameters their rounding.
#include "apps/common/trainer_precision.h"

#include <gtest/gtest.h>

#include <cstring>

#include "framework/distributed/communicator.h"
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

}  // namespace
}  // namespace ff::apps
