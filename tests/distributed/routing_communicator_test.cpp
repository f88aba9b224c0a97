// RoutingCommunicator: CPU tensors go to the host communicator, and the device communicator is
// only consulted for CUDA tensors (which need a GPU; covered by the NCCL tests on a GPU machine).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "framework/common/check.h"
#include "framework/distributed/communicator.h"
#include "framework/distributed/routing_communicator.h"
#include "ops/tensor_ops/fill.h"

namespace ff {
namespace {

using distributed::Communicator;
using distributed::ReduceOp;
using distributed::RoutingCommunicator;
using distributed::Work;

// A stand-in device backend that counts the calls it receives and fails them: any CPU tensor
// routed here is a routing bug.
class RecordingCommunicator final : public Communicator {
 public:
  RecordingCommunicator(int rank, int world) : rank_(rank), world_(world) {}
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string backend_name() const override { return "fake-device"; }
  std::shared_ptr<Work> all_reduce(const Tensor&, ReduceOp, bool) override { return fail("all_reduce"); }
  Tensor all_gather(const Tensor&) override { return fail("all_gather"); }
  Tensor reduce_scatter(const Tensor&, ReduceOp) override { return fail("reduce_scatter"); }
  void broadcast(const Tensor&, int) override { fail("broadcast"); }
  Tensor all_to_all(const Tensor&) override { return fail("all_to_all"); }
  void barrier() override { fail("barrier"); }
  [[noreturn]] void abort(const std::string& message) override { FF_THROW("fake abort: {}", message); }
  int calls = 0;

 private:
  struct Failure {
    template <typename T>
    operator T() const { FF_THROW("unreachable"); }
  };
  Failure fail(const char* what) {
    ++calls;
    FF_THROW("fake device communicator received {}", what);
  }
  int rank_, world_;
};

TEST(RoutingCommunicator, CpuTensorsGoToTheHostBackend) {
  auto host = distributed::create_communicator("single");
  auto device = std::make_unique<RecordingCommunicator>(0, 1);
  RecordingCommunicator* fake = device.get();
  RoutingCommunicator comm(*host, std::move(device));
  EXPECT_EQ(comm.backend_name(), "fake-device+single");
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.world_size(), 1);

  Tensor t = full({3, 2}, 2.0);
  comm.all_reduce(t, ReduceOp::Sum)->wait();
  EXPECT_EQ(t.data<float>()[0], 2.0f);  // a world of one: the sum is the value itself
  EXPECT_EQ(comm.all_gather(t).size(0), 3);
  EXPECT_EQ(comm.reduce_scatter(t).size(0), 3);
  comm.broadcast(t, 0);
  EXPECT_EQ(comm.all_to_all(t).size(0), 3);
  EXPECT_EQ(comm.all_gather_v(t, {3}).size(0), 3);
  EXPECT_EQ(comm.reduce_scatter_v(t, {3}).size(0), 3);
  EXPECT_EQ(comm.all_to_all_v(t, {3}, {3}).size(0), 3);
  comm.barrier();
  EXPECT_EQ(fake->calls, 0);
}

TEST(RoutingCommunicator, RejectsBackendsOfDifferentWorlds) {
  auto host = distributed::create_communicator("single");
  try {
    RoutingCommunicator comm(*host, std::make_unique<RecordingCommunicator>(1, 2));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("fake-device communicator is rank 1 of 2"), std::string::npos) << what;
    EXPECT_NE(what.find("single communicator is rank 0 of 1"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace ff
