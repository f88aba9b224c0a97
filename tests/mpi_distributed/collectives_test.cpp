// Every collective of the world communicator (MPI under mpirun) against the single-process
// computation, with even and uneven (per-rank count) blocks, async handles and several dtypes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "framework/common/check.h"
#include "framework/distributed/communicator.h"
#include "framework/distributed/sbp.h"
#include "ops/shape/shape.h"
#include "tests/mpi_distributed/dist_test_util.h"

namespace ff {
namespace {

using distributed::BalancedSplitter;
using distributed::Communicator;
using distributed::ReduceOp;
using testing::det_tensor;
using testing::same_values;

Communicator& comm() { return distributed::world(); }
int world_size() { return comm().world_size(); }
int my_rank() { return comm().rank(); }

// What a single process computes for the reduction of det_tensor(shape, seed_of(r)) over ranks.
Tensor expected_reduction(const Shape& shape, DType dtype, ReduceOp op, int64_t seed_base) {
  std::vector<double> acc;
  for (int r = 0; r < world_size(); ++r) {
    const std::vector<double> v = testing::vals(det_tensor(shape, seed_base + r, dtype));
    if (acc.empty()) {
      acc = v;
      continue;
    }
    for (size_t i = 0; i < v.size(); ++i) acc[i] = op == ReduceOp::Max ? std::max(acc[i], v[i]) : acc[i] + v[i];
  }
  if (op == ReduceOp::Avg) {
    for (double& x : acc) x = is_floating(dtype) ? x / world_size() : std::trunc(x / world_size());
  }
  return tensor_from(acc, shape).to(dtype);
}

TEST(Collectives, WorldIsMpiWithTheLaunchersRanks) {
  EXPECT_EQ(comm().backend_name(), "mpi");
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  ASSERT_NE(size, nullptr);
  EXPECT_EQ(world_size(), std::atoi(size));
  EXPECT_GE(my_rank(), 0);
  EXPECT_LT(my_rank(), world_size());
  // One node: the local rank is the rank.
  EXPECT_EQ(distributed::local_rank(), my_rank());
  EXPECT_EQ(comm().local_rank(), my_rank());
}

TEST(Collectives, AllReduceSumMaxAvgFloat32Float64Int64) {
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Avg}) {
      Tensor t = det_tensor({3, 5}, 10 + my_rank(), dtype);
      comm().all_reduce(t, op);
      EXPECT_EQ(t.dtype(), dtype);
      EXPECT_TRUE(same_values(t, expected_reduction({3, 5}, dtype, op, 10), 1e-6))
          << dtype_name(dtype) << " " << distributed::reduce_op_name(op);
    }
  }
}

TEST(Collectives, AllReduceHalfIsReducedInFloatAndBoolMaxIsLogicalOr) {
  Tensor h = det_tensor({7}, 3 + my_rank(), DType::Float16);
  comm().all_reduce(h, ReduceOp::Sum);
  EXPECT_EQ(h.dtype(), DType::Float16);
  EXPECT_TRUE(same_values(h, expected_reduction({7}, DType::Float64, ReduceOp::Sum, 3)));

  std::vector<double> flags(4, 0.0);
  flags[static_cast<size_t>(my_rank() % 4)] = 1.0;
  Tensor b = tensor_from(flags, {4}).to(DType::Bool);
  comm().all_reduce(b, ReduceOp::Max);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(testing::vals(b)[static_cast<size_t>(i)], i < world_size() ? 1.0 : 0.0);
}

TEST(Collectives, AsyncAllReduceCompletesOnWaitAndWhenDropped) {
  Tensor a = det_tensor({64}, 1 + my_rank(), DType::Float32);
  Tensor b = det_tensor({3, 3}, 20 + my_rank(), DType::Float64);
  auto wa = comm().all_reduce(a, ReduceOp::Sum, /*async=*/true);
  auto wb = comm().all_reduce(b, ReduceOp::Avg, /*async=*/true);
  wb->wait();
  wa->wait();
  EXPECT_TRUE(wa->is_completed());
  EXPECT_TRUE(wb->is_completed());
  EXPECT_TRUE(same_values(a, expected_reduction({64}, DType::Float32, ReduceOp::Sum, 1)));
  EXPECT_TRUE(same_values(b, expected_reduction({3, 3}, DType::Float64, ReduceOp::Avg, 20), 1e-12));

  // Polling is_completed() until done gives the same result as wait().
  Tensor c = det_tensor({5}, 40 + my_rank(), DType::Int64);
  auto wc = comm().all_reduce(c, ReduceOp::Max, true);
  while (!wc->is_completed()) {
  }
  EXPECT_TRUE(same_values(c, expected_reduction({5}, DType::Int64, ReduceOp::Max, 40)));

  // A handle dropped without wait() still completes the collective (and keeps the buffer alive).
  Tensor d = det_tensor({9}, 60 + my_rank(), DType::Float64);
  comm().all_reduce(d, ReduceOp::Sum, true);
  EXPECT_TRUE(same_values(d, expected_reduction({9}, DType::Float64, ReduceOp::Sum, 60)));
}

TEST(Collectives, AllReduceBumpsTheVersion) {
  Tensor t = det_tensor({4}, my_rank());
  const uint64_t before = t.version();
  comm().all_reduce(t);
  EXPECT_GT(t.version(), before);
}

TEST(Collectives, AllGatherEvenAndUneven) {
  for (DType dtype : {DType::Float32, DType::Int64}) {
    Tensor out = comm().all_gather(det_tensor({2, 3}, my_rank(), dtype));
    std::vector<Tensor> parts;
    for (int r = 0; r < world_size(); ++r) parts.push_back(det_tensor({2, 3}, r, dtype));
    EXPECT_TRUE(same_values(out, concat(parts, 0)));
  }
  // Balanced split of 5 rows (3 ranks: 2, 2, 1), and counts with an empty block.
  for (const auto& counts : {BalancedSplitter(5, world_size()).sizes(), BalancedSplitter(1, world_size()).sizes()}) {
    Tensor mine = det_tensor({counts[static_cast<size_t>(my_rank())], 4}, 7 * my_rank(), DType::Float64);
    Tensor out = comm().all_gather_v(mine, counts);
    std::vector<Tensor> parts;
    for (int r = 0; r < world_size(); ++r) parts.push_back(det_tensor({counts[static_cast<size_t>(r)], 4}, 7 * r));
    EXPECT_TRUE(same_values(out, concat(parts, 0))) << "counts " << fmt::format("{}", counts);
  }
}

TEST(Collectives, ReduceScatterEvenAndUneven) {
  const int w = world_size();
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Avg}) {
    Tensor out = comm().reduce_scatter(det_tensor({2 * w, 3}, 5 + my_rank()), op);
    Tensor full = expected_reduction({2 * w, 3}, DType::Float64, op, 5);
    EXPECT_TRUE(same_values(out, full.narrow(0, 2 * my_rank(), 2), 1e-12)) << distributed::reduce_op_name(op);
  }
  const BalancedSplitter split(7, w);
  Tensor out = comm().reduce_scatter_v(det_tensor({7, 2}, 9 + my_rank(), DType::Int64), split.sizes());
  Tensor full = expected_reduction({7, 2}, DType::Int64, ReduceOp::Sum, 9);
  EXPECT_TRUE(same_values(out, full.narrow(0, split.start(my_rank()), split.size(my_rank()))));
}

TEST(Collectives, BroadcastFromEveryRoot) {
  for (int root = 0; root < world_size(); ++root) {
    for (DType dtype : {DType::Float32, DType::Int64}) {
      Tensor t = det_tensor({2, 5}, 100 + my_rank(), dtype);
      comm().broadcast(t, root);
      EXPECT_TRUE(same_values(t, det_tensor({2, 5}, 100 + root, dtype))) << "root " << root;
    }
  }
}

TEST(Collectives, AllToAllEvenAndUneven) {
  const int w = world_size(), me = my_rank();
  // Even: block j of rank r is det(100 r + j).
  std::vector<Tensor> blocks;
  for (int j = 0; j < w; ++j) blocks.push_back(det_tensor({2, 3}, 100 * me + j, DType::Float32));
  Tensor out = comm().all_to_all(concat(blocks, 0));
  std::vector<Tensor> expected;
  for (int s = 0; s < w; ++s) expected.push_back(det_tensor({2, 3}, 100 * s + me, DType::Float32));
  EXPECT_TRUE(same_values(out, concat(expected, 0)));

  // Uneven: rank r sends (r + j) % 3 rows to rank j (some blocks empty).
  auto rows = [](int from, int to) { return static_cast<int64_t>((from + to) % 3); };
  std::vector<int64_t> send, recv;
  blocks.clear();
  expected.clear();
  for (int j = 0; j < w; ++j) {
    send.push_back(rows(me, j));
    recv.push_back(rows(j, me));
    blocks.push_back(det_tensor({rows(me, j), 2}, 100 * me + j, DType::Int64));
    expected.push_back(det_tensor({rows(j, me), 2}, 100 * j + me, DType::Int64));
  }
  Tensor got = comm().all_to_all_v(concat(blocks, 0), send, recv);
  EXPECT_TRUE(same_values(got, concat(expected, 0)));
}

TEST(Collectives, BarrierAndArgumentErrorsThrowOnEveryRank) {
  comm().barrier();
  Tensor t = det_tensor({3, 4}, 0);
  EXPECT_THROW(comm().all_reduce(t.t()), Error);  // not contiguous
  EXPECT_THROW(comm().all_reduce(tensor_from(std::vector<double>{1, 0}, {2}).to(DType::Bool)), Error);  // bool sum
  EXPECT_THROW(comm().broadcast(t, world_size()), Error);
  EXPECT_THROW(comm().all_gather_v(t, std::vector<int64_t>(static_cast<size_t>(world_size()), 4)), Error);
  if (world_size() > 1) {
    EXPECT_THROW(comm().reduce_scatter(det_tensor({world_size() + 1}, 0)), Error);
  }
  comm().barrier();
}

TEST(Collectives, CreateCommunicatorGivesAnIndependentMpiCommunicator) {
  auto own = distributed::create_communicator("mpi");
  EXPECT_EQ(own->backend_name(), "mpi");
  EXPECT_EQ(own->rank(), my_rank());
  EXPECT_EQ(own->world_size(), world_size());
  Tensor t = det_tensor({6}, 30 + my_rank());
  own->all_reduce(t);
  EXPECT_TRUE(same_values(t, expected_reduction({6}, DType::Float64, ReduceOp::Sum, 30)));
  EXPECT_EQ(distributed::create_communicator("auto")->backend_name(), "mpi");
  EXPECT_THROW(distributed::create_communicator("gloo"), Error);
}

}  // namespace
}  // namespace ff
