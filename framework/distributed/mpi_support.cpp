#ifdef FF_WITH_MPI

#include "framework/distributed/mpi_support.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "ops/elementwise/binary.h"

namespace ff::distributed::detail {

void mpi_failure(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) text[0] = '\0';
  fatal_error(fmt::format("MPI call failed at {}:{}: {} returned {} ({})", file, line, call, code, text));
}

namespace {

void finalise_at_exit() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised) MPI_Finalize();
}

// An uncaught exception on one rank would otherwise leave the others blocked in their next
// collective (Open MPI only notices a dead rank if it dies by a signal or exits).
[[noreturn]] void abort_job_on_terminate() {
  std::string what = "std::terminate called";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = std::string("uncaught exception: ") + ex.what();
    } catch (...) {
      what = "uncaught exception of unknown type";
    }
  }
  fatal_error(what);
}

}  // namespace

void ensure_mpi_initialised() {
  static std::once_flag once;
  std::call_once(once, [] {
    int initialised = 0;
    FF_MPI_CHECK(MPI_Initialized(&initialised));
    if (!initialised) {
      int provided = 0;
      FF_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided));
      std::atexit(finalise_at_exit);
      if (provided < MPI_THREAD_SERIALIZED) {
        // The collective watchdog ends a stalled job with MPI_Abort from its own thread, which
        // this MPI library does not promise to allow; say so once rather than fail obscurely.
        std::fprintf(stderr,
                     "[faceflow] warning: the MPI library gives thread level %d (asked for MPI_THREAD_MULTIPLE = %d): "
                     "aborting a stalled job from the watchdog thread may not work\n",
                     provided, MPI_THREAD_MULTIPLE);
      }
    }
    std::set_terminate(abort_job_on_terminate);
  });
}

MPI_Datatype mpi_datatype(DType dtype) {
  switch (dtype) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    case DType::Float16:
    case DType::BFloat16: return MPI_UINT16_T;
    case DType::Int32: return MPI_INT32_T;
    case DType::Int64: return MPI_INT64_T;
    case DType::UInt8:
    case DType::Bool: return MPI_UINT8_T;
  }
  FF_ASSERT(false, "no MPI datatype for dtype {}", static_cast<int>(dtype));
}

bool mpi_can_reduce(DType dtype) { return dtype != DType::Float16 && dtype != DType::BFloat16; }

int mpi_count(int64_t n, const char* op) {
  FF_CHECK(n >= 0 && n <= INT_MAX, "{}: {} elements do not fit in one MPI call (limit {})", op, n, INT_MAX);
  return static_cast<int>(n);
}

HostBuffer host_buffer(const Tensor& t, bool for_reduction) {
  const bool convert = for_reduction && !mpi_can_reduce(t.dtype());
  if (t.device().is_cpu() && !convert && t.is_contiguous()) return HostBuffer{t, false};
  autograd::NoGradGuard no_grad;
  Tensor host = t.detach().to(Device());
  if (convert) host = host.to(DType::Float32);
  return HostBuffer{host.contiguous(), true};
}

void finish_in_place(const Tensor& t, const HostBuffer& buffer) {
  if (buffer.staged) {
    autograd::NoGradGuard no_grad;
    t.detach().copy_(buffer.tensor);
  } else {
    t.storage()->bump_version();
  }
}

void divide_in_place(const Tensor& t, int divisor) {
  FF_ASSERT(t.device().is_cpu() && t.is_contiguous(), "divide_in_place needs a contiguous host tensor");
  if (is_floating(t.dtype())) {
    autograd::NoGradGuard no_grad;
    mul_(t.detach(), 1.0 / divisor);
    return;
  }
  auto divide = [&](auto* p) {
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<std::remove_reference_t<decltype(p[i])>>(p[i] / divisor);
  };
  switch (t.dtype()) {
    case DType::Int32: divide(t.data<int32_t>()); break;
    case DType::Int64: divide(t.data<int64_t>()); break;
    case DType::UInt8: divide(t.data<uint8_t>()); break;
    default: FF_THROW("average of a {} tensor is not defined", dtype_name(t.dtype()));
  }
}

}  // namespace ff::distributed::detail

#endif  // FF_WITH_MPI
