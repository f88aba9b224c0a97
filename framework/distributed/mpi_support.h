// MPI plumbing for the MPI communicator: the return-code check macro, datatypes, host staging.
#pragma once

#ifdef FF_WITH_MPI

#include <mpi.h>

#include <cstdint>
#include <string>

#include "framework/core/tensor.h"
#include "framework/distributed/communicator.h"

namespace ff::distributed::detail {

// Prints the failing call with file:line and MPI's error string, then aborts the job.
[[noreturn]] void mpi_failure(int code, const char* call, const char* file, int line);

inline void check_mpi(int code, const char* call, const char* file, int line) {
  if (code != MPI_SUCCESS) mpi_failure(code, call, file, line);
}

// Initialises MPI (MPI_THREAD_MULTIPLE) unless someone already did; then MPI_Finalize runs at
// exit. Also installs the terminate handler that turns an uncaught exception on any rank into
// MPI_Abort after printing it.
void ensure_mpi_initialised();

// The MPI datatype of `dtype` for moving data (16-bit floats travel as MPI_UINT16_T).
MPI_Datatype mpi_datatype(DType dtype);
// MPI cannot reduce 16-bit floats: such tensors are reduced in float32.
bool mpi_can_reduce(DType dtype);

// An element count as MPI's int, or an error naming `op` when it does not fit.
int mpi_count(int64_t n, const char* op);

// A contiguous host tensor MPI can work on: `t` itself when possible, else a copy (on the host,
// and in float32 for a reduction of 16-bit floats). `staged` says which.
struct HostBuffer {
  Tensor tensor;
  bool staged = false;
};
HostBuffer host_buffer(const Tensor& t, bool for_reduction);
// After an in-place collective: copies a staged buffer back into `t`, or bumps `t`'s version
// (autograd must see that MPI wrote into it).
void finish_in_place(const Tensor& t, const HostBuffer& buffer);

// t /= divisor element-wise on a contiguous host tensor (integers truncate toward zero).
void divide_in_place(const Tensor& t, int divisor);

}  // namespace ff::distributed::detail

// Checks an MPI call's return code; on failure prints the call and aborts the job.
#define FF_MPI_CHECK(call) ::ff::distributed::detail::check_mpi((call), #call, __FILE__, __LINE__)

#endif  // FF_WITH_MPI
