// The single-process backend (what world() is without mpirun), boxing and data parallel on a
// world of one, local_rank() and fatal errors.
#include <gtest/gtest.h>

#include <cstdlib>

#include "framework/autograd/autograd.h"
#include "framework/distributed/boxing/boxing.h"
#include "framework/distributed/backends.h"
#include "framework/distributed/communicator.h"
#include "framework/distributed/data_parallel.h"
#include "framework/nn/nn.h"
#include "ops/elementwise/binary.h"
#include "ops/reduce/reduce.h"
#include "ops/shape/shape.h"
#include "tests/common/test_assertions.h"
#include "tests/mpi_distributed/dist_test_util.h"

namespace ff {
namespace {

using distributed::Communicator;
using distributed::ReduceOp;
using distributed::Sbp;
using testing::det_tensor;
using testing::same_values;

TEST(SingleProcess, WorldWithoutALauncherIsOneProcess) {
  Communicator& w = distributed::world();
  EXPECT_EQ(w.backend_name(), "single");
  EXPECT_EQ(w.rank(), 0);
  EXPECT_EQ(w.world_size(), 1);
  EXPECT_EQ(distributed::create_communicator("single")->world_size(), 1);
  EXPECT_EQ(distributed::create_communicator("auto")->backend_name(), "single");
}

TEST(SingleProcess, CollectivesAreTheIdentityAndReturnFreshTensors) {
  Communicator& w = distributed::world();
  const Tensor x = det_tensor({4, 3}, 1);
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Avg}) {
    Tensor t = x.clone();
    auto work = w.all_reduce(t, op, /*async=*/true);
    work->wait();
    EXPECT_TRUE(work->is_completed());
    EXPECT_TRUE(same_values(t, x));
  }
  Tensor g = w.all_gather(x);
  EXPECT_TRUE(same_values(g, x));
  g.fill_(0.0);  // must not write through to x
  EXPECT_TRUE(same_values(x, det_tensor({4, 3}, 1)));
  EXPECT_TRUE(same_values(w.reduce_scatter(x), x));
  EXPECT_TRUE(same_values(w.all_to_all(x), x));
  EXPECT_TRUE(same_values(w.all_gather_v(x, {4}), x));
  EXPECT_TRUE(same_values(w.reduce_scatter_v(x, {4}), x));
  EXPECT_TRUE(same_values(w.all_to_all_v(x, {4}, {4}), x));
  Tensor b = x.clone();
  w.broadcast(b, 0);
  EXPECT_TRUE(same_values(b, x));
  w.barrier();
  EXPECT_THROW(w.broadcast(b, 1), Error);
  EXPECT_THROW(w.all_reduce(x.t()), Error);
  EXPECT_THROW(w.all_gather_v(x, {3}), Error);
  EXPECT_THROW(w.all_gather_v(x, {4, 0}), Error);
}

TEST(SingleProcess, CollectivesDoNotRecordAutograd) {
  Tensor x = det_tensor({2, 2}, 1);
  x.set_requires_grad(true);
  Tensor g = distributed::world().all_gather(x);
  EXPECT_FALSE(g.requires_grad());
}

TEST(SingleProcess, UnknownOrMissingBackendsAreErrors) {
  EXPECT_THROW(distributed::create_communicator("gloo"), Error);
#ifndef FF_WITH_CUDA
  EXPECT_THROW(distributed::create_communicator("nccl"), Error);
#endif
}

TEST(SingleProcess, BoxingOnAWorldOfOneKeepsValuesAndGradients) {
  Communicator& w = distributed::world();
  const Tensor x = det_tensor({3, 2}, 4);
  for (const Sbp& from : {Sbp::split(0), Sbp::split(1), Sbp::broadcast(), Sbp::partial_sum()}) {
    for (const Sbp& to : {Sbp::split(0), Sbp::split(1), Sbp::broadcast(), Sbp::partial_sum()}) {
      Tensor in = x.clone();
      in.set_requires_grad(true);
      Tensor out = distributed::box(in, from, to, x.sizes(), w);
      EXPECT_TRUE(same_values(out, x)) << from.str() << " -> " << to.str();
      sum(mul(out, det_tensor({3, 2}, 5))).backward();
      EXPECT_TRUE(same_values(in.grad(), det_tensor({3, 2}, 5))) << from.str() << " -> " << to.str();
    }
  }
  // The logical_dim_size overload.
  EXPECT_TRUE(same_values(distributed::box(x, Sbp::split(1), Sbp::broadcast(), 2, w), x));
  EXPECT_THROW(distributed::box(x, Sbp::split(1), Sbp::broadcast(), 3, w), Error);
}

TEST(SingleProcess, DataParallelOnOneRankKeepsTheGradients) {
  auto net = std::make_shared<nn::Linear>(3, 2);
  net->to(DType::Float64);
  distributed::DataParallel dp(net, distributed::world());
  const Tensor x = det_tensor({4, 3}, 2);
  sum(dp.forward(x)).backward();
  const Tensor before = net->weight.grad().clone();
  dp.finish_gradient_sync();
  EXPECT_TRUE(same_values(net->weight.grad(), before));
  EXPECT_TRUE(net->bias.grad().defined());
}

// Sets an environment variable for its lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(SingleProcess, LocalRankComesFromTheLauncher) {
  ScopedEnv a("OMPI_COMM_WORLD_LOCAL_RANK", nullptr), b("MPI_LOCALRANKID", nullptr), c("SLURM_LOCALID", nullptr),
      d("LOCAL_RANK", nullptr);
  EXPECT_EQ(distributed::local_rank(), 0);
  {
    ScopedEnv e("LOCAL_RANK", "2");
    EXPECT_EQ(distributed::local_rank(), 2);
    ScopedEnv f("OMPI_COMM_WORLD_LOCAL_RANK", "5");  // Open MPI's variable wins
    EXPECT_EQ(distributed::local_rank(), 5);
    EXPECT_EQ(distributed::world().local_rank(), 5);
  }
  ScopedEnv g("OMPI_COMM_WORLD_LOCAL_RANK", "x");
  EXPECT_THROW(distributed::local_rank(), Error);
}

TEST(SingleProcess, ABuildWithoutMpiRefusesToBeOneOfSeveralRanks) {
  ScopedEnv a("OMPI_COMM_WORLD_SIZE", nullptr), b("PMI_SIZE", nullptr);
  EXPECT_EQ(distributed::launcher_world_size(), 1);
  EXPECT_NO_THROW(distributed::detail::refuse_multi_rank_launch_without_mpi());
  {
    ScopedEnv c("PMI_SIZE", "1");  // mpirun -np 1: fine
    EXPECT_NO_THROW(distributed::detail::refuse_multi_rank_launch_without_mpi());
  }
  ScopedEnv d("OMPI_COMM_WORLD_SIZE", "8");
  EXPECT_EQ(distributed::launcher_world_size(), 8);
  EXPECT_FF_ERROR(distributed::detail::refuse_multi_rank_launch_without_mpi(), "one of 8 ranks",
                  "-DFF_WITH_MPI=ON");
  ScopedEnv e("OMPI_COMM_WORLD_SIZE", "eight");
  EXPECT_FF_ERROR(distributed::launcher_world_size(), "OMPI_COMM_WORLD_SIZE='eight'");
}

TEST(SingleProcessDeathTest, FatalErrorAndAbortEndTheProcessWithTheMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(distributed::fatal_error("disk on fire"), ::testing::ExitedWithCode(1),
              "\\[rank 0/1\\] FaceFlow fatal error: disk on fire");
  EXPECT_EXIT(distributed::world().abort("giving up"), ::testing::ExitedWithCode(1), "giving up");
}

}  // namespace
}  // namespace ff
