#ifdef FF_WITH_MPI

#include "framework/distributed/mpi_communicator.h"

#include <cstdlib>
#include <functional>
#include <numeric>

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "framework/distributed/backends.h"
#include "framework/distributed/mpi_support.h"
#include "framework/distributed/single_process_communicator.h"

namespace ff::distributed {

namespace {

using detail::HostBuffer;
using detail::host_buffer;
using detail::mpi_count;
using detail::mpi_datatype;
using Scope = CollectiveWatchdog::Scope;

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::Max ? MPI_MAX : MPI_SUM; }  // Avg = Sum, then divide

void check_reducible(const Tensor& t, ReduceOp op, const char* name) {
  FF_CHECK(t.dtype() != DType::Bool || op == ReduceOp::Max, "{}: {} of a bool tensor is not defined (use max)",
           name, reduce_op_name(op));
}

// Elements of one dim-0 row.
int64_t row_numel(const Tensor& t) {
  Shape rest(t.sizes().begin() + 1, t.sizes().end());
  return shape_numel(rest);
}

Shape with_rows(const Tensor& t, int64_t rows) {
  Shape s = t.sizes();
  s[0] = rows;
  return s;
}

bool all_equal(const std::vector<int64_t>& v) {
  return std::all_of(v.begin(), v.end(), [&](int64_t x) { return x == v[0]; });
}

// MPI's per-rank element counts and displacements for rows of `row` elements.
struct CountsAndDispls {
  std::vector<int> counts, displs;
};
CountsAndDispls counts_and_displs(const std::vector<int64_t>& rows, int64_t row, const char* op) {
  CountsAndDispls c;
  int64_t offset = 0;
  for (int64_t r : rows) {
    c.counts.push_back(mpi_count(r * row, op));
    c.displs.push_back(mpi_count(offset, op));
    offset += r * row;
  }
  mpi_count(offset, op);
  return c;
}

class MpiWork final : public Work {
 public:
  MpiWork(CollectiveWatchdog* watchdog, MPI_Request request, std::function<void()> finish)
      : watchdog_(watchdog), request_(request), finish_(std::move(finish)) {}
  // The buffers must outlive the request: a dropped handle still completes the collective.
  ~MpiWork() override {
    if (!done_) wait();
  }
  void wait() override {
    if (done_) return;
    {
      Scope scope(watchdog_, "MPI_Wait (async all_reduce)");
      FF_MPI_CHECK(MPI_Wait(&request_, MPI_STATUS_IGNORE));
    }
    complete();
  }
  bool is_completed() override {
    if (done_) return true;
    int flag = 0;
    FF_MPI_CHECK(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE));  // also drives MPI's progress
    if (flag) complete();
    return done_;
  }

 private:
  void complete() {
    done_ = true;
    finish_();
  }
  CollectiveWatchdog* watchdog_;
  MPI_Request request_;
  std::function<void()> finish_;
  bool done_ = false;
};

}  // namespace

MpiCommunicator::MpiCommunicator() {
  detail::ensure_mpi_initialised();
  FF_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
  FF_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  FF_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  FF_MPI_CHECK(MPI_Comm_size(comm_, &size_));
  detail::set_fatal_error_identity(rank_, size_);
  watchdog_ = std::make_unique<CollectiveWatchdog>(CollectiveWatchdog::timeout_from_env());
}

MpiCommunicator::~MpiCommunicator() {
  watchdog_.reset();
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);  // best effort at shutdown: not checked
}

std::shared_ptr<Work> MpiCommunicator::all_reduce(const Tensor& t, ReduceOp op, bool async) {
  check_defined(t, "all_reduce", "t");
  FF_CHECK(t.is_contiguous(), "all_reduce: {} must be contiguous", t.describe());
  check_reducible(t, op, "all_reduce");
  autograd::NoGradGuard no_grad;
  HostBuffer buf = host_buffer(t, /*for_reduction=*/true);
  const int count = mpi_count(buf.tensor.numel(), "all_reduce");
  const MPI_Datatype type = mpi_datatype(buf.tensor.dtype());
  const int world = size_;
  auto finish = [t, buf, op, world] {
    if (op == ReduceOp::Avg) detail::divide_in_place(buf.tensor, world);
    detail::finish_in_place(t, buf);
  };
  if (async) {
    MPI_Request request;
    FF_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, buf.tensor.raw_data(), count, type, mpi_op(op), comm_, &request));
    return std::make_shared<MpiWork>(watchdog_.get(), request, std::move(finish));
  }
  {
    Scope scope(watchdog_.get(), "MPI_Allreduce");
    FF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf.tensor.raw_data(), count, type, mpi_op(op), comm_));
  }
  finish();
  return std::make_shared<CompletedWork>();
}

Tensor MpiCommunicator::gather_rows(const Tensor& in, const std::vector<int64_t>& counts, const char* op) {
  check_defined(in, op, "in");
  FF_CHECK(in.dim() >= 1, "{}: expected a tensor with at least one dim, got {}", op, in.describe());
  FF_CHECK(static_cast<int>(counts.size()) == size_, "{}: {} counts for a world of {}", op, counts.size(), size_);
  FF_CHECK(in.size(0) == counts[static_cast<size_t>(rank_)], "{}: rank {} passes {} but its count is {}", op, rank_,
           in.describe(), counts[static_cast<size_t>(rank_)]);
  autograd::NoGradGuard no_grad;
  HostBuffer src = host_buffer(in, false);
  const int64_t row = row_numel(in);
  Tensor out = Tensor::empty(with_rows(in, std::accumulate(counts.begin(), counts.end(), int64_t{0})), in.dtype());
  const MPI_Datatype type = mpi_datatype(in.dtype());
  const int send = mpi_count(in.numel(), op);
  if (all_equal(counts)) {
    Scope scope(watchdog_.get(), "MPI_Allgather");
    FF_MPI_CHECK(MPI_Allgather(src.tensor.raw_data(), send, type, out.raw_data(), send, type, comm_));
  } else {
    const CountsAndDispls c = counts_and_displs(counts, row, op);
    Scope scope(watchdog_.get(), "MPI_Allgatherv");
    FF_MPI_CHECK(MPI_Allgatherv(src.tensor.raw_data(), send, type, out.raw_data(), c.counts.data(), c.displs.data(),
                                type, comm_));
  }
  return out.to(in.device());
}

Tensor MpiCommunicator::all_gather(const Tensor& in) {
  check_defined(in, "all_gather", "in");
  FF_CHECK(in.dim() >= 1, "all_gather: expected a tensor with at least one dim, got {}", in.describe());
  return gather_rows(in, std::vector<int64_t>(static_cast<size_t>(size_), in.size(0)), "all_gather");
}

Tensor MpiCommunicator::all_gather_v(const Tensor& in, const std::vector<int64_t>& counts) {
  return gather_rows(in, counts, "all_gather_v");
}

Tensor MpiCommunicator::reduce_scatter_rows(const Tensor& in, const std::vector<int64_t>& counts, ReduceOp op,
                                            const char* op_name) {
  check_defined(in, op_name, "in");
  check_reducible(in, op, op_name);
  FF_CHECK(static_cast<int>(counts.size()) == size_, "{}: {} counts for a world of {}", op_name, counts.size(), size_);
  FF_CHECK(in.dim() >= 1 && in.size(0) == std::accumulate(counts.begin(), counts.end(), int64_t{0}),
           "{}: {} does not have sum({}) rows", op_name, in.describe(), counts);
  autograd::NoGradGuard no_grad;
  HostBuffer src = host_buffer(in, /*for_reduction=*/true);
  const int64_t row = row_numel(in);
  Tensor out = Tensor::empty(with_rows(in, counts[static_cast<size_t>(rank_)]), src.tensor.dtype());
  const MPI_Datatype type = mpi_datatype(src.tensor.dtype());
  if (all_equal(counts)) {
    Scope scope(watchdog_.get(), "MPI_Reduce_scatter_block");
    FF_MPI_CHECK(MPI_Reduce_scatter_block(src.tensor.raw_data(), out.raw_data(), mpi_count(out.numel(), op_name),
                                          type, mpi_op(op), comm_));
  } else {
    const CountsAndDispls c = counts_and_displs(counts, row, op_name);
    Scope scope(watchdog_.get(), "MPI_Reduce_scatter");
    FF_MPI_CHECK(MPI_Reduce_scatter(src.tensor.raw_data(), out.raw_data(), c.counts.data(), type, mpi_op(op), comm_));
  }
  if (op == ReduceOp::Avg) detail::divide_in_place(out, size_);
  return out.to(in.dtype()).to(in.device());
}

Tensor MpiCommunicator::reduce_scatter(const Tensor& in, ReduceOp op) {
  check_defined(in, "reduce_scatter", "in");
  FF_CHECK(in.dim() >= 1 && in.size(0) % size_ == 0, "reduce_scatter: {} has a dim 0 not divisible by the world size {}",
           in.describe(), size_);
  return reduce_scatter_rows(in, std::vector<int64_t>(static_cast<size_t>(size_), in.size(0) / size_), op,
                             "reduce_scatter");
}

Tensor MpiCommunicator::reduce_scatter_v(const Tensor& in, const std::vector<int64_t>& counts, ReduceOp op) {
  return reduce_scatter_rows(in, counts, op, "reduce_scatter_v");
}

void MpiCommunicator::broadcast(const Tensor& t, int root) {
  check_defined(t, "broadcast", "t");
  FF_CHECK(root >= 0 && root < size_, "broadcast: root {} out of range for a world of {}", root, size_);
  FF_CHECK(t.is_contiguous(), "broadcast: {} must be contiguous", t.describe());
  autograd::NoGradGuard no_grad;
  HostBuffer buf = host_buffer(t, false);
  {
    Scope scope(watchdog_.get(), "MPI_Bcast");
    FF_MPI_CHECK(MPI_Bcast(buf.tensor.raw_data(), mpi_count(t.numel(), "broadcast"), mpi_datatype(t.dtype()), root,
                           comm_));
  }
  detail::finish_in_place(t, buf);
}

Tensor MpiCommunicator::exchange_rows(const Tensor& in, const std::vector<int64_t>& send_counts,
                                      const std::vector<int64_t>& recv_counts, const char* op) {
  check_defined(in, op, "in");
  FF_CHECK(static_cast<int>(send_counts.size()) == size_ && static_cast<int>(recv_counts.size()) == size_,
           "{}: {} send and {} receive counts for a world of {}", op, send_counts.size(), recv_counts.size(), size_);
  FF_CHECK(in.dim() >= 1 && in.size(0) == std::accumulate(send_counts.begin(), send_counts.end(), int64_t{0}),
           "{}: {} does not have sum({}) rows", op, in.describe(), send_counts);
  autograd::NoGradGuard no_grad;
  HostBuffer src = host_buffer(in, false);
  const int64_t row = row_numel(in);
  Tensor out =
      Tensor::empty(with_rows(in, std::accumulate(recv_counts.begin(), recv_counts.end(), int64_t{0})), in.dtype());
  const MPI_Datatype type = mpi_datatype(in.dtype());
  if (all_equal(send_counts) && all_equal(recv_counts) && send_counts[0] == recv_counts[0]) {
    const int block = mpi_count(send_counts[0] * row, op);
    Scope scope(watchdog_.get(), "MPI_Alltoall");
    FF_MPI_CHECK(MPI_Alltoall(src.tensor.raw_data(), block, type, out.raw_data(), block, type, comm_));
  } else {
    const CountsAndDispls s = counts_and_displs(send_counts, row, op);
    const CountsAndDispls r = counts_and_displs(recv_counts, row, op);
    Scope scope(watchdog_.get(), "MPI_Alltoallv");
    FF_MPI_CHECK(MPI_Alltoallv(src.tensor.raw_data(), s.counts.data(), s.displs.data(), type, out.raw_data(),
                               r.counts.data(), r.displs.data(), type, comm_));
  }
  return out.to(in.device());
}

Tensor MpiCommunicator::all_to_all(const Tensor& in) {
  check_defined(in, "all_to_all", "in");
  FF_CHECK(in.dim() >= 1 && in.size(0) % size_ == 0, "all_to_all: {} has a dim 0 not divisible by the world size {}",
           in.describe(), size_);
  const std::vector<int64_t> counts(static_cast<size_t>(size_), in.size(0) / size_);
  return exchange_rows(in, counts, counts, "all_to_all");
}

Tensor MpiCommunicator::all_to_all_v(const Tensor& in, const std::vector<int64_t>& send_counts,
                                     const std::vector<int64_t>& recv_counts) {
  return exchange_rows(in, send_counts, recv_counts, "all_to_all_v");
}

void MpiCommunicator::barrier() {
  Scope scope(watchdog_.get(), "MPI_Barrier");
  FF_MPI_CHECK(MPI_Barrier(comm_));
}

void MpiCommunicator::abort(const std::string& message) { fatal_error(message); }

namespace detail {

bool mpi_launched_or_initialised() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) return true;
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace detail

}  // namespace ff::distributed

#endif  // FF_WITH_MPI
