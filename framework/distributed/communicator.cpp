// world(), the backend factory, local_rank(), fatal_error(), and the padded default
// implementations of the uneven collectives.
#include "framework/distributed/communicator.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <numeric>

#ifdef FF_WITH_MPI
#include <mpi.h>
#endif

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "framework/distributed/backends.h"
#include "ops/shape/shape.h"
#include "ops/tensor_ops/fill.h"

namespace ff::distributed {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Max: return "max";
    case ReduceOp::Avg: return "avg";
  }
  return "?";
}

// ---- process-wide helpers ---------------------------------------------------------------------

namespace {

// The first of `names` set in the environment, as an integer >= `minimum` (described as `what` in
// the error for anything else); `fallback` when none is set.
int launcher_env_int(std::initializer_list<const char*> names, long minimum, const char* what, int fallback) {
  for (const char* name : names) {
    if (const char* v = std::getenv(name)) {
      char* end = nullptr;
      const long n = std::strtol(v, &end, 10);
      FF_CHECK(*v != '\0' && *end == '\0' && n >= minimum, "environment variable {}='{}' is not {}", name, v, what);
      return static_cast<int>(n);
    }
  }
  return fallback;
}

}  // namespace

int local_rank() {
  return launcher_env_int({"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", "LOCAL_RANK"}, 0,
                          "a local rank", 0);
}

int Communicator::local_rank() const { return distributed::local_rank(); }

int launcher_world_size() { return launcher_env_int({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}, 1, "a world size", 1); }

namespace detail {

void refuse_multi_rank_launch_without_mpi() {
  const int ranks = launcher_world_size();
  FF_CHECK(ranks <= 1,
           "this process is one of {} ranks started by mpirun (or another MPI launcher), but this FaceFlow build has "
           "no MPI (configured with -DFF_WITH_MPI=OFF): each rank would run alone as rank 0 of 1, on the same files. "
           "Rebuild with -DFF_WITH_MPI=ON, or start a single process",
           ranks);
}

namespace {
std::atomic<int> g_fatal_rank{0};
std::atomic<int> g_fatal_world{1};
}  // namespace
void set_fatal_error_identity(int rank, int world_size) {
  g_fatal_rank = rank;
  g_fatal_world = world_size;
}
}  // namespace detail

void fatal_error(const std::string& message) {
  std::fprintf(stderr, "[rank %d/%d] FaceFlow fatal error: %s\n", detail::g_fatal_rank.load(),
               detail::g_fatal_world.load(), message.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
#ifdef FF_WITH_MPI
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (initialised && !finalised) MPI_Abort(MPI_COMM_WORLD, 1);  // kills every rank of the job
#endif
  std::_Exit(1);
}

// ---- factory ---------------------------------------------------------------------------------------

std::unique_ptr<Communicator> create_communicator(const std::string& backend, int device) {
  if (backend == "single") return detail::make_single_process_communicator();
  if (backend == "auto") {
#ifdef FF_WITH_MPI
    if (detail::mpi_launched_or_initialised()) return detail::make_mpi_communicator();
#else
    detail::refuse_multi_rank_launch_without_mpi();
#endif
    return detail::make_single_process_communicator();
  }
  if (backend == "mpi") {
#ifdef FF_WITH_MPI
    return detail::make_mpi_communicator();
#else
    FF_THROW("communicator backend 'mpi' is not in this build (configure with -DFF_WITH_MPI=ON)");
#endif
  }
  if (backend == "nccl") {
#ifdef FF_WITH_CUDA
    return detail::make_nccl_communicator(world(), device);
#else
    FF_THROW("communicator backend 'nccl' is not in this build (configure with -DFF_WITH_CUDA=ON)");
#endif
  }
  FF_THROW("unknown communicator backend '{}': expected auto, single, mpi or nccl", backend);
}

Communicator& world() {
  static std::unique_ptr<Communicator> instance = create_communicator("auto");
  return *instance;
}

// ---- uneven collectives through padding ------------------------------------------------------------
namespace {

int64_t sum_of(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }

void check_counts(const Communicator& comm, const std::vector<int64_t>& counts, const char* op,
                  const char* what) {
  FF_CHECK(static_cast<int>(counts.size()) == comm.world_size(), "{}: {} has {} entries for a world of {}", op,
           what, counts.size(), comm.world_size());
  for (int64_t c : counts) FF_CHECK(c >= 0, "{}: negative count in {} {}", op, what, counts);
}

// [rows, rest...] for the trailing shape of `t`.
Shape with_rows(const Tensor& t, int64_t rows) {
  Shape s = t.sizes();
  s[0] = rows;
  return s;
}

// Copies `block` ([n, rest...], n <= rows) into rows [0, n) of a zero tensor [rows, rest...].
Tensor pad_rows(const Tensor& block, int64_t rows) {
  Tensor out = zeros(with_rows(block, rows), block.dtype(), block.device());
  if (block.size(0) > 0) out.narrow(0, 0, block.size(0)).copy_(block);
  return out;
}

// Rows [k * stride, k * stride + counts[k]) of `t` for every k, concatenated.
Tensor unpad_rows(const Tensor& t, int64_t stride, const std::vector<int64_t>& counts) {
  std::vector<Tensor> parts;
  for (size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] > 0) parts.push_back(t.narrow(0, static_cast<int64_t>(k) * stride, counts[k]));
  }
  if (parts.empty()) return empty(with_rows(t, 0), t.dtype(), t.device());
  return concat(parts, 0);
}

// Every block of `in` (block k = counts[k] rows) padded to `stride` rows, stacked.
Tensor pad_blocks(const Tensor& in, const std::vector<int64_t>& counts, int64_t stride) {
  Tensor out = zeros(with_rows(in, stride * static_cast<int64_t>(counts.size())), in.dtype(), in.device());
  int64_t offset = 0;
  for (size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] > 0) {
      out.narrow(0, static_cast<int64_t>(k) * stride, counts[k]).copy_(in.narrow(0, offset, counts[k]));
    }
    offset += counts[k];
  }
  return out;
}

}  // namespace

Tensor Communicator::all_gather_v(const Tensor& in, const std::vector<int64_t>& counts) {
  check_defined(in, "all_gather_v", "in");
  check_counts(*this, counts, "all_gather_v", "counts");
  FF_CHECK(in.dim() >= 1 && in.size(0) == counts[static_cast<size_t>(rank())],
           "all_gather_v: rank {} passes {} but counts[{}] = {}", rank(), in.describe(), rank(),
           counts[static_cast<size_t>(rank())]);
  autograd::NoGradGuard no_grad;
  const int64_t stride = *std::max_element(counts.begin(), counts.end());
  if (std::all_of(counts.begin(), counts.end(), [&](int64_t c) { return c == stride; })) {
    return all_gather(in.contiguous());
  }
  return unpad_rows(all_gather(pad_rows(in.contiguous(), stride)), stride, counts);
}

Tensor Communicator::reduce_scatter_v(const Tensor& in, const std::vector<int64_t>& counts, ReduceOp op) {
  check_defined(in, "reduce_scatter_v", "in");
  check_counts(*this, counts, "reduce_scatter_v", "counts");
  FF_CHECK(in.dim() >= 1 && in.size(0) == sum_of(counts), "reduce_scatter_v: {} but the counts {} sum to {}",
           in.describe(), counts, sum_of(counts));
  autograd::NoGradGuard no_grad;
  const int64_t stride = *std::max_element(counts.begin(), counts.end());
  if (std::all_of(counts.begin(), counts.end(), [&](int64_t c) { return c == stride; })) {
    return reduce_scatter(in.contiguous(), op);
  }
  Tensor mine = reduce_scatter(pad_blocks(in, counts, stride), op);
  return mine.narrow(0, 0, counts[static_cast<size_t>(rank())]).contiguous();
}

Tensor Communicator::all_to_all_v(const Tensor& in, const std::vector<int64_t>& send_counts,
                                  const std::vector<int64_t>& recv_counts) {
  check_defined(in, "all_to_all_v", "in");
  check_counts(*this, send_counts, "all_to_all_v", "send_counts");
  check_counts(*this, recv_counts, "all_to_all_v", "recv_counts");
  FF_CHECK(in.dim() >= 1 && in.size(0) == sum_of(send_counts), "all_to_all_v: {} but send_counts {} sum to {}",
           in.describe(), send_counts, sum_of(send_counts));
  autograd::NoGradGuard no_grad;
  // Every rank must pad to the same block size: the largest count any rank sends.
  const int64_t local_max = std::max(*std::max_element(send_counts.begin(), send_counts.end()),
                                     *std::max_element(recv_counts.begin(), recv_counts.end()));
  Tensor stride_t = full({1}, static_cast<double>(local_max), DType::Int64, in.device());
  all_reduce(stride_t, ReduceOp::Max);
  const int64_t stride = stride_t.item<int64_t>();
  return unpad_rows(all_to_all(pad_blocks(in, send_counts, stride)), stride, recv_counts);
}

}  // namespace ff::distributed
