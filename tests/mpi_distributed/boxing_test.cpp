// Boxing between every pair of SBPs over the MPI world: forward values and gradients against the
// single-process (logical) computation, on shapes that split unevenly (and with empty shards on
// 3 ranks), plus a float64 finite-difference check of a distributed function through all of them.
#include "framework/distributed/boxing/boxing.h"

#include <gtest/gtest.h>

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "ops/elementwise/binary.h"
#include "ops/reduce/reduce.h"
#include "tests/mpi_distributed/dist_test_util.h"

namespace ff {
namespace {

using distributed::BalancedSplitter;
using distributed::box;
using distributed::Communicator;
using distributed::Sbp;
using testing::det_tensor;
using testing::same_values;

Communicator& comm() { return distributed::world(); }

// This rank's piece of `logical` laid out as `sbp`. P pieces: rank r > 0 holds det noise, rank 0
// the remainder, so that they sum to `logical` exactly (dyadic values).
Tensor local_of(const Tensor& logical, const Sbp& sbp, int64_t seed) {
  const int w = comm().world_size(), me = comm().rank();
  if (sbp.is_broadcast()) return logical.clone();
  if (sbp.is_split()) {
    const BalancedSplitter s(logical.size(sbp.axis()), w);
    return logical.narrow(sbp.axis(), s.start(me), s.size(me)).clone();
  }
  if (me > 0) return det_tensor(logical.sizes(), seed + me);
  Tensor rest = logical.clone();
  for (int r = 1; r < w; ++r) rest = sub(rest, det_tensor(logical.sizes(), seed + r));
  return rest;
}

// The logical tensor from this rank's piece, rebuilt without boxing: every rank writes its piece
// (S: at its offset of a zero tensor) and the pieces are summed (B: every piece is the whole).
Tensor logical_of(const Tensor& local, const Sbp& sbp, const Shape& logical_shape) {
  autograd::NoGradGuard no_grad;
  if (sbp.is_broadcast()) return local.detach().clone();
  Tensor sum = zeros(logical_shape, local.dtype());
  if (sbp.is_split()) {
    const BalancedSplitter s(logical_shape[static_cast<size_t>(sbp.axis())], comm().world_size());
    if (s.size(comm().rank()) > 0) sum.narrow(sbp.axis(), s.start(comm().rank()), s.size(comm().rank())).copy_(local);
  } else {
    sum.copy_(local);
  }
  comm().all_reduce(sum);
  return sum;
}

std::vector<Sbp> all_sbps(int64_t ndim) {
  std::vector<Sbp> out = {Sbp::broadcast(), Sbp::partial_sum()};
  for (int64_t a = 0; a < ndim; ++a) out.push_back(Sbp::split(a));
  return out;
}

// Forward: the output represents the same logical tensor (and is exactly this rank's piece when
// the piece is unique, i.e. not P). Backward with the output gradient given as dual(to) pieces of
// a logical weight w: the input gradient represents w in dual(from).
void check_conversion(const Shape& shape, const Sbp& from, const Sbp& to) {
  SCOPED_TRACE(fmt::format("{} -> {} on {} ({} ranks)", from.str(), to.str(), shape_str(shape), comm().world_size()));
  const Tensor x = det_tensor(shape, 1);
  Tensor in = local_of(x, from, 500);
  in.set_requires_grad(true);
  Tensor out = box(in, from, to, shape, comm());
  EXPECT_TRUE(same_values(logical_of(out, to, shape), x));
  if (!to.is_partial_sum()) {
    EXPECT_TRUE(same_values(out, local_of(x, to, 0)));
  }

  const Tensor w = det_tensor(shape, 2);
  const Tensor seed = local_of(w, to.dual(), 700);
  sum(mul(out, seed)).backward();
  ASSERT_TRUE(in.grad().defined());
  EXPECT_TRUE(same_values(logical_of(in.grad(), from.dual(), shape), w));
  if (!from.dual().is_partial_sum()) {
    EXPECT_TRUE(same_values(in.grad(), local_of(w, from.dual(), 0)));
  }
}

TEST(Boxing, EveryConversionMatchesTheLogicalTensorAndGradient) {
  // 5 x 7 x 2 splits unevenly over 2 and 3 ranks; 2 x 3 leaves an empty S(0) shard on 3 ranks.
  for (const Shape& shape : {Shape{5, 7, 2}, Shape{2, 3}, Shape{4}}) {
    for (const Sbp& from : all_sbps(static_cast<int64_t>(shape.size()))) {
      for (const Sbp& to : all_sbps(static_cast<int64_t>(shape.size()))) check_conversion(shape, from, to);
    }
  }
}

TEST(Boxing, ConversionNamesFollowTheTable) {
  EXPECT_EQ(distributed::boxing_name(Sbp::split(0), Sbp::broadcast()), "s_to_b (all_gather)");
  EXPECT_EQ(distributed::boxing_name(Sbp::broadcast(), Sbp::split(1)), "b_to_s (local slice)");
  EXPECT_EQ(distributed::boxing_name(Sbp::partial_sum(), Sbp::broadcast()), "p_to_b (all_reduce)");
  EXPECT_EQ(distributed::boxing_name(Sbp::partial_sum(), Sbp::split(0)), "p_to_s (reduce_scatter)");
  EXPECT_EQ(distributed::boxing_name(Sbp::split(0), Sbp::split(1)), "s_to_s (all_to_all)");
  EXPECT_EQ(distributed::boxing_name(Sbp::split(1), Sbp::split(1)), "identity");
}

TEST(Boxing, IntegerLabelsGatherWithoutAutograd) {
  const Tensor labels = det_tensor({7}, 3, DType::Int64);
  Tensor mine = local_of(labels, Sbp::split(0), 0);
  Tensor all = box(mine, Sbp::split(0), Sbp::broadcast(), 7, comm());
  EXPECT_EQ(all.dtype(), DType::Int64);
  EXPECT_TRUE(same_values(all, labels));
  EXPECT_FALSE(all.requires_grad());
}

TEST(Boxing, RoundTripSplitBroadcastSplitHasTheIdentityGradient) {
  // With B -> S's backward an all_gather (instead of the zero-pad of the dual convention) this
  // gradient would come out world_size times too large.
  const Tensor x = det_tensor({5, 3}, 4);
  Tensor in = local_of(x, Sbp::split(0), 0);
  in.set_requires_grad(true);
  Tensor b = box(in, Sbp::split(0), Sbp::broadcast(), 5, comm());
  Tensor back = box(b, Sbp::broadcast(), Sbp::split(0), 5, comm());
  EXPECT_TRUE(same_values(back, in.detach()));
  const Tensor g = det_tensor(in.sizes(), 8);
  back.backward(g);
  EXPECT_TRUE(same_values(in.grad(), g));
}

TEST(Boxing, WrongLocalShapeThrowsBeforeCommunicating) {
  const int w = comm().world_size();
  Tensor wrong = det_tensor({BalancedSplitter(5, w).size(comm().rank()) + 1, 2}, 0);
  EXPECT_THROW(box(wrong, Sbp::split(0), Sbp::broadcast(), 5, comm()), Error);
  EXPECT_THROW(box(det_tensor({3}, 0), Sbp::broadcast(), Sbp::split(1), 3, comm()), Error);  // no axis 1
  EXPECT_THROW(box(det_tensor({3}, 0), Sbp::broadcast(), Sbp::split(0), 4, comm()), Error);  // size mismatch
  comm().barrier();
}

// L(x) = sum over ranks of <C, h> with h the S(0) piece of x*x*x + 2x, computed through every
// conversion; dL/dx (analytic, through the boxing backward passes) must match both the closed
// form C (3x^2 + 2) and central finite differences of the all-reduced loss.
TEST(Boxing, Float64GradientCheckOfADistributedFunction) {
  const Shape shape = {5, 3};
  const Tensor C = det_tensor(shape, 21);
  auto local_loss = [&](const Tensor& x_s0) {
    const Sbp S0 = Sbp::split(0), S1 = Sbp::split(1), B = Sbp::broadcast(), P = Sbp::partial_sum();
    Tensor a = box(x_s0, S0, B, shape, comm());            // all_gather
    Tensor c = box(mul(a, a), B, S1, shape, comm());       // slice
    Tensor d = box(c, S1, S0, shape, comm());              // all_to_all: x^2 as S(0)
    Tensor e = box(x_s0, S0, P, shape, comm());            // zero-pad
    Tensor g = box(box(e, P, S1, shape, comm()), S1, S0, shape, comm());  // reduce_scatter, all_to_all
    Tensor m = box(box(e, P, B, shape, comm()), B, S0, shape, comm());    // all_reduce, slice
    Tensor q = box(box(a, B, P, shape, comm()), P, S0, shape, comm());    // rank 0 keeps, reduce_scatter
    Tensor h = add(add(mul(d, g), m), q);
    return sum(mul(h, local_of(C, S0, 0)));
  };
  auto global_loss = [&](const Tensor& x_logical) {
    autograd::NoGradGuard no_grad;
    Tensor l = local_loss(local_of(x_logical, Sbp::split(0), 0)).contiguous().clone();
    comm().all_reduce(l);
    return l.item<double>();
  };

  Tensor x = det_tensor(shape, 9);
  Tensor x_local = local_of(x, Sbp::split(0), 0);
  x_local.set_requires_grad(true);
  local_loss(x_local).backward();
  const Tensor analytic = logical_of(x_local.grad(), Sbp::split(0), shape);

  const Tensor closed = mul(C, add(mul(mul(x, x), 3.0), 2.0));
  EXPECT_TRUE(same_values(analytic, closed, 1e-12));

  const double eps = 1e-6;
  std::vector<double> xv = testing::vals(x), numeric(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    std::vector<double> plus = xv, minus = xv;
    plus[i] += eps;
    minus[i] -= eps;
    numeric[i] = (global_loss(tensor_from(plus, shape)) - global_loss(tensor_from(minus, shape))) / (2 * eps);
  }
  EXPECT_TRUE(same_values(analytic, tensor_from(numeric, shape), 1e-6));
}

}  // namespace
}  // namespace ff
