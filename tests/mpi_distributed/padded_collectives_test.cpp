// The Communicator base class's uneven collectives (pad every block to the largest count, then
// the even collective: the NCCL backend's path), run over MPI through a wrapper that forwards
// only the even collectives.
#include <gtest/gtest.h>

#include "framework/distributed/communicator.h"
#include "framework/distributed/sbp.h"
#include "ops/elementwise/binary.h"
#include "ops/shape/shape.h"
#include "tests/mpi_distributed/dist_test_util.h"

namespace ff {
namespace {

using distributed::BalancedSplitter;
using distributed::Communicator;
using distributed::ReduceOp;
using distributed::Work;
using testing::det_tensor;
using testing::same_values;

// Forwards the even collectives; keeps the base class's padded *_v implementations.
class EvenOnly final : public Communicator {
 public:
  explicit EvenOnly(Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int world_size() const override { return inner_.world_size(); }
  std::string backend_name() const override { return "even-only"; }
  std::shared_ptr<Work> all_reduce(const Tensor& t, ReduceOp op, bool async) override {
    return inner_.all_reduce(t, op, async);
  }
  Tensor all_gather(const Tensor& in) override { return inner_.all_gather(in); }
  Tensor reduce_scatter(const Tensor& in, ReduceOp op) override { return inner_.reduce_scatter(in, op); }
  void broadcast(const Tensor& t, int root) override { inner_.broadcast(t, root); }
  Tensor all_to_all(const Tensor& in) override { return inner_.all_to_all(in); }
  void barrier() override { inner_.barrier(); }
  [[noreturn]] void abort(const std::string& m) override { distributed::fatal_error(m); }

 private:
  Communicator& inner_;
};

TEST(PaddedCollectives, AllGatherV) {
  EvenOnly comm(distributed::world());
  const int w = comm.world_size(), me = comm.rank();
  const std::vector<int64_t> counts = BalancedSplitter(2 * w + 1, w).sizes();
  Tensor out = comm.all_gather_v(det_tensor({counts[static_cast<size_t>(me)], 3}, me, DType::Int64), counts);
  std::vector<Tensor> parts;
  for (int r = 0; r < w; ++r) parts.push_back(det_tensor({counts[static_cast<size_t>(r)], 3}, r, DType::Int64));
  EXPECT_TRUE(same_values(out, concat(parts, 0)));
}

TEST(PaddedCollectives, ReduceScatterV) {
  EvenOnly comm(distributed::world());
  const int w = comm.world_size(), me = comm.rank();
  const BalancedSplitter split(w + 2, w);  // uneven for 2 and 3 ranks
  Tensor out = comm.reduce_scatter_v(det_tensor({w + 2, 2}, 50 + me, DType::Float32), split.sizes(), ReduceOp::Max);
  Tensor expected = det_tensor({w + 2, 2}, 50, DType::Float32);
  for (int r = 1; r < w; ++r) expected = maximum(expected, det_tensor({w + 2, 2}, 50 + r, DType::Float32));
  EXPECT_TRUE(same_values(out, expected.narrow(0, split.start(me), split.size(me))));
}

TEST(PaddedCollectives, AllToAllV) {
  EvenOnly comm(distributed::world());
  const int w = comm.world_size(), me = comm.rank();
  auto rows = [](int from, int to) { return static_cast<int64_t>((2 * from + to) % 4); };
  std::vector<int64_t> send, recv;
  std::vector<Tensor> blocks, expected;
  for (int j = 0; j < w; ++j) {
    send.push_back(rows(me, j));
    recv.push_back(rows(j, me));
    blocks.push_back(det_tensor({rows(me, j), 2}, 10 * me + j));
    expected.push_back(det_tensor({rows(j, me), 2}, 10 * j + me));
  }
  EXPECT_TRUE(same_values(comm.all_to_all_v(concat(blocks, 0), send, recv), concat(expected, 0)));
}

}  // namespace
}  // namespace ff
