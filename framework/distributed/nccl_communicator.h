// Collectives over NCCL for CUDA tensors (built only with FF_WITH_CUDA; compiled, but not yet
// run, on the CPU-only build machines).
//
// One NCCL communicator per process, on the CUDA device the launcher's local rank picks, with
// the unique id broadcast by rank 0 through the bootstrap (MPI) communicator. Collectives run
// on a stream of their own, ordered against the compute stream (ff::cuda::current_stream of the
// device at the time of the call, i.e. the framework's stream or a StreamGuard's):
//   1. an event recorded on the compute stream makes the NCCL stream wait for the work queued
//      so far (the kernels that produced the inputs);
//   2. the NCCL call is queued on the NCCL stream, followed by a "done" event;
//   3. Work::wait() (or a synchronous call) makes the compute stream wait for "done", so later
//      kernels see the result. The host never blocks except in barrier().
// The returned Work holds the tensors until the compute stream is ordered after "done", so a
// stream-ordered caching allocator never reuses their memory while NCCL still reads or writes
// it (a dropped Work does that wait in its destructor).
//
// Every NCCL and CUDA return code is checked; a failure (or an asynchronous NCCL error found
// by wait()/is_completed()) aborts the NCCL communicator and the job with the call, file:line.
// A CollectiveWatchdog polls every queued collective (an event after it on the NCCL stream, and
// ncclCommGetAsyncError) from its own thread: an asynchronous NCCL error, or a collective still
// running after FF_COLLECTIVE_TIMEOUT_S (default 1800 s), aborts the NCCL communicator (which
// frees the peers) and the job with the collective's name, instead of a silent hang at the next
// host read. barrier()'s host waits are watched as blocking calls.
#pragma once

#ifdef FF_WITH_CUDA

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <memory>

#include "framework/distributed/collective_watchdog.h"
#include "framework/distributed/communicator.h"

namespace ff::distributed {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `bootstrap`'s ranks: every rank passes its own CUDA device ordinal.
  NcclCommunicator(Communicator& bootstrap, int device);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  std::string backend_name() const override { return "nccl"; }
  int device() const { return device_; }

  // Orders the collectives against `stream` instead of ff::cuda::current_stream(device());
  // nullptr restores the default.
  void set_compute_stream(cudaStream_t stream) { compute_override_ = stream; }
  cudaStream_t nccl_stream() const { return stream_; }

  std::shared_ptr<Work> all_reduce(const Tensor& t, ReduceOp op = ReduceOp::Sum, bool async = false) override;
  Tensor all_gather(const Tensor& in) override;
  Tensor reduce_scatter(const Tensor& in, ReduceOp op = ReduceOp::Sum) override;
  void broadcast(const Tensor& t, int root) override;
  Tensor all_to_all(const Tensor& in) override;
  void barrier() override;
  [[noreturn]] void abort(const std::string& message) override;
  // Grouped ncclSend/ncclRecv with per-peer counts: no padding needed. (all_gather_v and
  // reduce_scatter_v use the base class's pad-to-the-largest-block path.)
  Tensor all_to_all_v(const Tensor& in, const std::vector<int64_t>& send_counts,
                      const std::vector<int64_t>& recv_counts) override;

 private:
  // On this rank's device and contiguous (check_rows: also at least one dim).
  void check_tensor(const Tensor& t, const char* op) const;
  void check_rows(const Tensor& t, const char* op) const;
  // Step 1 above; returns the NCCL stream.
  cudaStream_t begin();
  // Steps 2-3: records "done", registers the collective `what` with the watchdog, and returns
  // a Work keeping `keep_alive` until it is waited on.
  std::shared_ptr<Work> end(const char* what, std::vector<Tensor> keep_alive);

  Communicator& bootstrap_;
  int rank_ = 0;
  int size_ = 1;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaStream_t compute_override_ = nullptr;
  cudaStream_t compute_ = nullptr;  // the compute stream of the collective in progress
  cudaEvent_t ready_ = nullptr;
  std::unique_ptr<CollectiveWatchdog> watchdog_;  // stopped first in the destructor
};

}  // namespace ff::distributed

#endif  // FF_WITH_CUDA
