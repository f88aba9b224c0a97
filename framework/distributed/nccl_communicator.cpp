// Compiled into the library in every build; empty unless FF_WITH_CUDA (it includes nccl.h).
#ifdef FF_WITH_CUDA

#include "framework/distributed/nccl_communicator.h"

#include <cstring>
#include <exception>
#include <memory>
#include <numeric>

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "framework/cuda/caching_allocator.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/distributed/backends.h"
#include "ops/tensor_ops/fill.h"

namespace ff::distributed {

namespace {

[[noreturn]] void comm_failure(ncclComm_t comm, const std::string& what, const char* call, const char* file,
                               int line) {
  if (comm != nullptr) ncclCommAbort(comm);  // frees peers blocked on this rank inside NCCL
  fatal_error(fmt::format("{} failed at {}:{}: {}", what, file, line, call));
}

}  // namespace

// NCCL and CUDA return codes: on failure print the call and its error string, abort the job.
#define FF_NCCL_CHECK(call)                                                                              \
  do {                                                                                                   \
    const ncclResult_t ff_nccl_rc = (call);                                                              \
    if (ff_nccl_rc != ncclSuccess) {                                                                     \
      comm_failure(nullptr, fmt::format("NCCL ({}: {})", static_cast<int>(ff_nccl_rc),                   \
                                        ncclGetErrorString(ff_nccl_rc)),                                  \
                   #call, __FILE__, __LINE__);                                                           \
    }                                                                                                    \
  } while (0)
#define FF_COMM_CUDA_CHECK(call)                                                                         \
  do {                                                                                                   \
    const cudaError_t ff_cuda_rc = (call);                                                               \
    if (ff_cuda_rc != cudaSuccess) {                                                                     \
      comm_failure(nullptr, fmt::format("CUDA ({}: {})", static_cast<int>(ff_cuda_rc),                   \
                                        cudaGetErrorString(ff_cuda_rc)),                                  \
                   #call, __FILE__, __LINE__);                                                           \
    }                                                                                                    \
  } while (0)

namespace {

ncclDataType_t nccl_datatype(DType dtype) {
  switch (dtype) {
    case DType::Float32: return ncclFloat32;
    case DType::Float16: return ncclFloat16;
    case DType::BFloat16: return ncclBfloat16;
    case DType::Float64: return ncclFloat64;
    case DType::Int32: return ncclInt32;
    case DType::Int64: return ncclInt64;
    case DType::UInt8:
    case DType::Bool: return ncclUint8;
  }
  FF_ASSERT(false, "no NCCL datatype for dtype {}", static_cast<int>(dtype));
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Max: return ncclMax;
    case ReduceOp::Avg: return ncclAvg;
  }
  FF_ASSERT(false, "unknown ReduceOp");
}

Shape with_rows(const Tensor& t, int64_t rows) {
  Shape s = t.sizes();
  s[0] = rows;
  return s;
}

int64_t row_numel(const Tensor& t) { return t.size(0) == 0 ? shape_numel(with_rows(t, 1)) : t.numel() / t.size(0); }

// The "done" event of one collective, shared by its Work and the watchdog's poll: destroyed when
// both have let go (CUDA releases it once it has completed).
using SharedEvent = std::shared_ptr<CUevent_st>;
SharedEvent make_done_event() {
  cudaEvent_t event = nullptr;
  FF_COMM_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return SharedEvent(event, [](cudaEvent_t e) { cudaEventDestroy(e); });
}

class NcclWork final : public Work {
 public:
  NcclWork(ncclComm_t comm, SharedEvent done, cudaStream_t compute, std::vector<Tensor> keep_alive)
      : comm_(comm), done_(std::move(done)), compute_(compute), keep_alive_(std::move(keep_alive)) {}
  ~NcclWork() override {
    if (!waited_) wait();
  }
  void wait() override {
    if (waited_) return;
    check_async_error();
    FF_COMM_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_.get(), 0));
    waited_ = true;
    keep_alive_.clear();  // later allocations on the compute stream are ordered after "done"
  }
  bool is_completed() override {
    check_async_error();
    const cudaError_t rc = cudaEventQuery(done_.get());
    if (rc == cudaErrorNotReady) {
      // A status, not an error: left as the thread's last error it would fail the next kernel
      // launch check (GradientReducer polls its buckets from the backward pass).
      (void)cudaGetLastError();
      return false;
    }
    FF_COMM_CUDA_CHECK(rc);
    return true;
  }

 private:
  void check_async_error() {
    ncclResult_t async = ncclSuccess;
    FF_NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess && async != ncclInProgress) {
      comm_failure(comm_, fmt::format("NCCL collective ({})", ncclGetErrorString(async)), "ncclCommGetAsyncError",
                   __FILE__, __LINE__);
    }
  }
  ncclComm_t comm_;
  SharedEvent done_;
  cudaStream_t compute_;
  std::vector<Tensor> keep_alive_;
  bool waited_ = false;
};

}  // namespace

NcclCommunicator::NcclCommunicator(Communicator& bootstrap, int device)
    : bootstrap_(bootstrap), rank_(bootstrap.rank()), size_(bootstrap.world_size()), device_(device) {
  int count = 0;
  FF_COMM_CUDA_CHECK(cudaGetDeviceCount(&count));
  FF_CHECK(count > 0, "NCCL communicator: no CUDA device");
  if (device_ < 0) device_ = local_rank() % count;
  FF_CHECK(device_ < count, "NCCL communicator: device {} out of range ({} devices)", device_, count);
  FF_COMM_CUDA_CHECK(cudaSetDevice(device_));

  // Rank 0 creates the id; the bootstrap communicator (MPI) carries it to everyone.
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (rank_ == 0) FF_NCCL_CHECK(ncclGetUniqueId(&id));
  Tensor id_bytes = Tensor::empty({static_cast<int64_t>(sizeof(id))}, DType::UInt8);
  std::memcpy(id_bytes.raw_data(), &id, sizeof(id));
  bootstrap_.broadcast(id_bytes, 0);
  std::memcpy(&id, id_bytes.raw_data(), sizeof(id));

  FF_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
  FF_COMM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  FF_COMM_CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
  watchdog_ = std::make_unique<CollectiveWatchdog>(CollectiveWatchdog::timeout_from_env());
  watchdog_->set_on_fatal([comm = comm_] { ncclCommAbort(comm); });
}

NcclCommunicator::~NcclCommunicator() {
  if (std::uncaught_exceptions() > 0) {
    // Unwinding from an error that may be this rank's alone (e.g. a constructor failing after
    // the communicator was made): the peers can be blocked in a collective waiting for us, and
    // ncclCommDestroy (in recent NCCL even ncclCommAbort) synchronises with them, so this rank
    // would hang here before its error is printed and the job aborted (apps/train calls
    // Communicator::abort). The communicator, its stream and event are left to the end of the
    // process; only the watchdog thread is stopped.
    watchdog_.reset();
    return;
  }
  // Best effort at shutdown (not checked): pending work finishes before the comm is destroyed,
  // and the watchdog (which queries the comm) stops before that.
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  watchdog_.reset();
  if (comm_ != nullptr) ncclCommDestroy(comm_);
  if (ready_ != nullptr) cudaEventDestroy(ready_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void NcclCommunicator::check_tensor(const Tensor& t, const char* op) const {
  check_defined(t, op, "tensor");
  FF_CHECK(t.device() == Device(DeviceType::CUDA, device_), "{}: the NCCL communicator of rank {} works on cuda:{}, got {}",
           op, rank_, device_, t.describe());
  FF_CHECK(t.is_contiguous(), "{}: {} must be contiguous", op, t.describe());
}

void NcclCommunicator::check_rows(const Tensor& t, const char* op) const {
  check_tensor(t, op);
  FF_CHECK(t.dim() >= 1, "{}: expected a tensor with at least one dim, got {}", op, t.describe());
}

cudaStream_t NcclCommunicator::begin() {
  FF_COMM_CUDA_CHECK(cudaSetDevice(device_));
  compute_ = compute_override_ != nullptr ? compute_override_ : cuda::current_stream(device_);
  FF_COMM_CUDA_CHECK(cudaEventRecord(ready_, compute_));
  FF_COMM_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_, 0));
  return stream_;
}

std::shared_ptr<Work> NcclCommunicator::end(const char* what, std::vector<Tensor> keep_alive) {
  SharedEvent done = make_done_event();
  FF_COMM_CUDA_CHECK(cudaEventRecord(done.get(), stream_));
  if (watchdog_->timeout_s() > 0.0) {
    // The watchdog polls the same event (it keeps it alive until it has seen it complete).
    auto poll = [comm = comm_, done, device = device_]() -> CollectiveWatchdog::AsyncStatus {
      // The watchdog thread queries this rank's device.
      if (const cudaError_t set = cudaSetDevice(device); set != cudaSuccess) {
        return {false, fmt::format("cudaSetDevice({}): {}", device, cudaGetErrorString(set))};
      }
      const cudaError_t rc = cudaEventQuery(done.get());
      if (rc == cudaSuccess) return {true, {}};
      if (rc != cudaErrorNotReady) return {false, fmt::format("cudaEventQuery: {}", cudaGetErrorString(rc))};
      (void)cudaGetLastError();  // "not ready" is a status, not an error to leave behind
      ncclResult_t async = ncclSuccess;
      const ncclResult_t query = ncclCommGetAsyncError(comm, &async);
      if (query != ncclSuccess) return {false, fmt::format("ncclCommGetAsyncError: {}", ncclGetErrorString(query))};
      if (async != ncclSuccess && async != ncclInProgress) {
        return {false, fmt::format("NCCL asynchronous error: {}", ncclGetErrorString(async))};
      }
      return {false, {}};
    };
    watchdog_->watch(fmt::format("NCCL {} (rank {} of {}, cuda:{})", what, rank_, size_, device_), std::move(poll));
  }
  // The buffers may come from another stream's pool than compute_ (a caller that overrides the
  // compute stream): their blocks must not be reused before the NCCL stream is done with them,
  // whichever stream frees them.
  for (const Tensor& t : keep_alive) {
    if (t.defined() && t.device().is_cuda()) cuda::record_stream(t, stream_);
  }
  return std::make_shared<NcclWork>(comm_, std::move(done), compute_, std::move(keep_alive));
}

std::shared_ptr<Work> NcclCommunicator::all_reduce(const Tensor& t, ReduceOp op, bool async) {
  check_tensor(t, "all_reduce");
  FF_CHECK(t.dtype() != DType::Bool || op == ReduceOp::Max, "all_reduce: {} of a bool tensor is not defined",
           reduce_op_name(op));
  cudaStream_t s = begin();
  FF_NCCL_CHECK(ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_datatype(t.dtype()),
                              nccl_op(op), comm_, s));
  t.storage()->bump_version();
  auto work = end("all_reduce", {t});
  if (!async) work->wait();
  return work;
}

Tensor NcclCommunicator::all_gather(const Tensor& in) {
  check_rows(in, "all_gather");
  Tensor out = Tensor::empty(with_rows(in, in.size(0) * size_), in.dtype(), in.device());
  cudaStream_t s = begin();
  FF_NCCL_CHECK(ncclAllGather(in.raw_data(), out.raw_data(), static_cast<size_t>(in.numel()),
                              nccl_datatype(in.dtype()), comm_, s));
  end("all_gather", {in, out})->wait();
  return out;
}

Tensor NcclCommunicator::reduce_scatter(const Tensor& in, ReduceOp op) {
  check_rows(in, "reduce_scatter");
  FF_CHECK(in.size(0) % size_ == 0, "reduce_scatter: {} has a dim 0 not divisible by the world size {}",
           in.describe(), size_);
  FF_CHECK(in.dtype() != DType::Bool || op == ReduceOp::Max, "reduce_scatter: {} of a bool tensor is not defined",
           reduce_op_name(op));
  Tensor out = Tensor::empty(with_rows(in, in.size(0) / size_), in.dtype(), in.device());
  cudaStream_t s = begin();
  FF_NCCL_CHECK(ncclReduceScatter(in.raw_data(), out.raw_data(), static_cast<size_t>(out.numel()),
                                  nccl_datatype(in.dtype()), nccl_op(op), comm_, s));
  end("reduce_scatter", {in, out})->wait();
  return out;
}

void NcclCommunicator::broadcast(const Tensor& t, int root) {
  check_tensor(t, "broadcast");
  FF_CHECK(root >= 0 && root < size_, "broadcast: root {} out of range for a world of {}", root, size_);
  cudaStream_t s = begin();
  FF_NCCL_CHECK(ncclBroadcast(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_datatype(t.dtype()),
                              root, comm_, s));
  t.storage()->bump_version();
  end("broadcast", {t})->wait();
}

Tensor NcclCommunicator::all_to_all(const Tensor& in) {
  check_rows(in, "all_to_all");
  FF_CHECK(in.size(0) % size_ == 0, "all_to_all: {} has a dim 0 not divisible by the world size {}", in.describe(),
           size_);
  const std::vector<int64_t> counts(static_cast<size_t>(size_), in.size(0) / size_);
  return all_to_all_v(in, counts, counts);
}

Tensor NcclCommunicator::all_to_all_v(const Tensor& in, const std::vector<int64_t>& send_counts,
                                      const std::vector<int64_t>& recv_counts) {
  check_rows(in, "all_to_all_v");
  FF_CHECK(static_cast<int>(send_counts.size()) == size_ && static_cast<int>(recv_counts.size()) == size_,
           "all_to_all_v: {} send and {} receive counts for a world of {}", send_counts.size(), recv_counts.size(),
           size_);
  FF_CHECK(in.size(0) == std::accumulate(send_counts.begin(), send_counts.end(), int64_t{0}),
           "all_to_all_v: {} does not have sum({}) rows", in.describe(), send_counts);
  Tensor out = Tensor::empty(with_rows(in, std::accumulate(recv_counts.begin(), recv_counts.end(), int64_t{0})),
                             in.dtype(), in.device());
  const int64_t row = row_numel(in);
  const size_t bytes_per_row = static_cast<size_t>(row) * in.element_size();
  const ncclDataType_t type = nccl_datatype(in.dtype());
  auto* src = static_cast<char*>(in.raw_data());
  auto* dst = static_cast<char*>(out.raw_data());
  cudaStream_t s = begin();
  FF_NCCL_CHECK(ncclGroupStart());
  for (int peer = 0; peer < size_; ++peer) {
    const auto p = static_cast<size_t>(peer);
    if (send_counts[p] > 0) {
      FF_NCCL_CHECK(ncclSend(src, static_cast<size_t>(send_counts[p] * row), type, peer, comm_, s));
    }
    if (recv_counts[p] > 0) {
      FF_NCCL_CHECK(ncclRecv(dst, static_cast<size_t>(recv_counts[p] * row), type, peer, comm_, s));
    }
    src += static_cast<size_t>(send_counts[p]) * bytes_per_row;
    dst += static_cast<size_t>(recv_counts[p]) * bytes_per_row;
  }
  FF_NCCL_CHECK(ncclGroupEnd());
  end("all_to_all_v", {in, out})->wait();
  return out;
}

void NcclCommunicator::barrier() {
  // Everything queued so far on both streams, on every rank, is done when this returns.
  FF_COMM_CUDA_CHECK(cudaSetDevice(device_));
  compute_ = compute_override_ != nullptr ? compute_override_ : cuda::current_stream(device_);
  CollectiveWatchdog::Scope watched(watchdog_.get(), "NCCL barrier (waiting for the compute and NCCL streams)");
  FF_COMM_CUDA_CHECK(cudaStreamSynchronize(compute_));
  FF_COMM_CUDA_CHECK(cudaStreamSynchronize(stream_));
  bootstrap_.barrier();
}

void NcclCommunicator::abort(const std::string& message) {
  if (comm_ != nullptr) ncclCommAbort(comm_);
  fatal_error(message);
}

namespace detail {
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& bootstrap, int device) {
  return std::make_unique<NcclCommunicator>(bootstrap, device);
}
}  // namespace detail

}  // namespace ff::distributed

#endif  // FF_WITH_CUDA
