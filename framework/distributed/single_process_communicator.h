// The communicator of a job with one process: every collective is the identity (a reduction
// over one rank is the value itself). Out-of-place collectives return a fresh copy, so callers
// never alias their input, as with the real backends.
#pragma once

#include "framework/distributed/communicator.h"

namespace ff::distributed {

class SingleProcessCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend_name() const override { return "single"; }

  std::shared_ptr<Work> all_reduce(const Tensor& t, ReduceOp op = ReduceOp::Sum, bool async = false) override;
  Tensor all_gather(const Tensor& in) override;
  Tensor reduce_scatter(const Tensor& in, ReduceOp op = ReduceOp::Sum) override;
  void broadcast(const Tensor& t, int root) override;
  Tensor all_to_all(const Tensor& in) override;
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message) override;
};

// A Work that is already complete (what synchronous collectives return).
class CompletedWork final : public Work {
 public:
  void wait() override {}
  bool is_completed() override { return true; }
};

}  // namespace ff::distributed
