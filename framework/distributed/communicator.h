// Collective communication between ranks (issue 5).
//
// CONTRACT shared by the communicator backends (MPI, NCCL, single-process), placement/boxing,
// data parallel and Partial FC. All collectives are over every rank of the communicator and
// must be called by every rank in the same order. Tensors must be contiguous; CPU tensors go
// through MPI, CUDA tensors through NCCL (or MPI staged through the host).
//
// Errors. Argument errors that every rank detects alike (a non-contiguous tensor, a dim that
// does not divide by the world size) throw ff::Error before any communication. Failures inside
// a collective (an MPI/NCCL return code, a collective stuck longer than FF_COLLECTIVE_TIMEOUT_S
// seconds) print "[rank r/w] ..." with the call, file and line, and abort the whole job: no
// rank is ever left waiting for one that failed. Under MPI an uncaught exception also aborts
// the job (after printing the rank and the message).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace ff::distributed {

enum class ReduceOp { Sum, Max, Avg };
const char* reduce_op_name(ReduceOp op);  // "sum", "max", "avg"

// Completion handle of an asynchronous collective. wait() rethrows the collective's error.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  virtual bool is_completed() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend_name() const = 0;
  // This process's rank among the ranks of its node (picks the GPU); see local_rank() below.
  virtual int local_rank() const;

  // In place: every rank ends with the reduction of all ranks' `t`. Avg on integral dtypes is
  // an integer division of the sum (MPI backend: truncated toward zero).
  virtual std::shared_ptr<Work> all_reduce(const Tensor& t, ReduceOp op = ReduceOp::Sum, bool async = false) = 0;
  // `in` [n, ...] on each rank -> returns [world * n, ...] ordered by rank (equal shapes required).
  virtual Tensor all_gather(const Tensor& in) = 0;
  // `in` [world * n, ...] -> returns this rank's [n, ...] block of the element-wise reduction.
  virtual Tensor reduce_scatter(const Tensor& in, ReduceOp op = ReduceOp::Sum) = 0;
  // In place from `root`.
  virtual void broadcast(const Tensor& t, int root) = 0;
  // `in` [world * n, ...]: block j goes to rank j; returns the blocks received, ordered by source.
  virtual Tensor all_to_all(const Tensor& in) = 0;
  virtual void barrier() = 0;
  // Ends the whole job with `message` (never leaves other ranks waiting).
  [[noreturn]] virtual void abort(const std::string& message) = 0;

  // ---- uneven ("v") variants: blocks along dim 0 with per-rank row counts ---------------------
  // Every rank passes the same `counts` (one entry per rank) and the same trailing shape.
  // The defaults pad every block to the largest count and call the even collective (what the
  // NCCL backend does); the MPI backend overrides them with MPI_Allgatherv / MPI_Alltoallv.
  //
  // `in` [counts[rank], ...] -> [sum(counts), ...], ordered by rank.
  virtual Tensor all_gather_v(const Tensor& in, const std::vector<int64_t>& counts);
  // `in` [sum(counts), ...] -> this rank's [counts[rank], ...] block of the reduction.
  virtual Tensor reduce_scatter_v(const Tensor& in, const std::vector<int64_t>& counts,
                                  ReduceOp op = ReduceOp::Sum);
  // `in` [sum(send_counts), ...]: block j (send_counts[j] rows) goes to rank j. Returns
  // [sum(recv_counts), ...], the blocks received ordered by source; recv_counts[j] must equal
  // what rank j sends here.
  virtual Tensor all_to_all_v(const Tensor& in, const std::vector<int64_t>& send_counts,
                              const std::vector<int64_t>& recv_counts);
};

// The process-wide communicator: MPI when the program runs under mpirun (or was built with
// MPI and initialised it), otherwise a single-process communicator of world size 1.
Communicator& world();

// A new communicator of the given backend:
//   "auto"   MPI when running under mpirun or when MPI is initialised, else single-process
//            (a build without MPI started by mpirun with several ranks throws instead)
//   "mpi"    MPI over a duplicate of MPI_COMM_WORLD (initialises MPI if needed)
//   "single" one process, world size 1
//   "nccl"   NCCL on CUDA device `device` (default: local_rank() modulo the device count),
//            bootstrapped through world(); only in builds with FF_WITH_CUDA
// Throws ff::Error naming the backends available in this build for anything else.
std::unique_ptr<Communicator> create_communicator(const std::string& backend, int device = -1);

// Rank of this process on its node, from the launcher's environment
// (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID, LOCAL_RANK); 0 when not launched.
// `mpirun -np 8` on one node with 8 GPUs: rank r uses cuda:local_rank().
int local_rank();

// Ranks in the job according to the launcher's environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE); 1
// when not launched. "auto" in a build without MPI refuses to start when this is above 1.
int launcher_world_size();

// Prints "[rank r/w] FaceFlow fatal error: message" to stderr and ends the job: MPI_Abort when
// MPI is running, otherwise the process exits with status 1. Used by the backends' check macros.
[[noreturn]] void fatal_error(const std::string& message);

}  // namespace ff::distributed
