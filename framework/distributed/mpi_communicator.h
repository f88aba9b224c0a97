// Collectives over MPI for CPU tensors; CUDA tensors are staged through host memory.
//
// The communicator works on its own duplicate of MPI_COMM_WORLD (so user MPI traffic never
// matches ours) with MPI_ERRORS_RETURN, so that every failing call is reported by FF_MPI_CHECK
// with its file:line before the job is aborted. Blocking calls run under a CollectiveWatchdog.
// all_reduce(async = true) starts MPI_Iallreduce; the returned Work finishes it (averaging,
// copying a staged buffer back) in wait() or in the first is_completed() that sees it done.
#pragma once

#ifdef FF_WITH_MPI

#include <mpi.h>

#include <memory>

#include "framework/distributed/collective_watchdog.h"
#include "framework/distributed/communicator.h"

namespace ff::distributed {

class MpiCommunicator final : public Communicator {
 public:
  // Initialises MPI if nobody did (it is then finalised at exit) and duplicates MPI_COMM_WORLD
  // (collective: every rank constructs its communicators in the same order).
  MpiCommunicator();
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  std::string backend_name() const override { return "mpi"; }
  MPI_Comm comm() const { return comm_; }

  std::shared_ptr<Work> all_reduce(const Tensor& t, ReduceOp op = ReduceOp::Sum, bool async = false) override;
  Tensor all_gather(const Tensor& in) override;
  Tensor reduce_scatter(const Tensor& in, ReduceOp op = ReduceOp::Sum) override;
  void broadcast(const Tensor& t, int root) override;
  Tensor all_to_all(const Tensor& in) override;
  void barrier() override;
  [[noreturn]] void abort(const std::string& message) override;

  Tensor all_gather_v(const Tensor& in, const std::vector<int64_t>& counts) override;
  Tensor reduce_scatter_v(const Tensor& in, const std::vector<int64_t>& counts,
                          ReduceOp op = ReduceOp::Sum) override;
  Tensor all_to_all_v(const Tensor& in, const std::vector<int64_t>& send_counts,
                      const std::vector<int64_t>& recv_counts) override;

 private:
  // Shared by the even and uneven variants: counts are rows per rank.
  Tensor gather_rows(const Tensor& in, const std::vector<int64_t>& counts, const char* op);
  Tensor reduce_scatter_rows(const Tensor& in, const std::vector<int64_t>& counts, ReduceOp op, const char* op_name);
  Tensor exchange_rows(const Tensor& in, const std::vector<int64_t>& send_counts,
                       const std::vector<int64_t>& recv_counts, const char* op);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  std::unique_ptr<CollectiveWatchdog> watchdog_;
};

}  // namespace ff::distributed

#endif  // FF_WITH_MPI
