// The CUDA device runtime (issue 3): error checks, devices, streams, handles.
//
// CONTRACT for every CUDA kernel file in ops/ and framework/: include this header (only from
// .cu files or .cpp files compiled when FF_WITH_CUDA is defined), take device pointers from
// Tensor::raw_data(), launch on ff::cuda::current_stream(), and check every call.
//
// Nothing here may touch the driver at static-initialisation time: binaries must start and
// skip cleanly on machines without a GPU (cudaGetDeviceCount returns an error there).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "framework/common/check.h"
#include "framework/core/device.h"

namespace ff::cuda {

[[noreturn]] void throw_cuda_error(const char* file, int line, const char* call, const char* what);

// True when a driver and at least one device are present (cached after the first call).
bool is_available();
int device_count();  // 0 without a driver
int current_device();
void set_device(int index);

// The compute stream of the current device (a non-blocking stream created on first use).
cudaStream_t current_stream();

// Per-device library handles, bound to current_stream(); workspaces come from the caching allocator.
cublasHandle_t cublas_handle();
cublasLtHandle_t cublaslt_handle();
cudnnHandle_t cudnn_handle();

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr int kThreadsPerBlock = 256;

// ---- additions (framework/cuda/cuda_runtime.cpp) ---------------------------------------------
// Why is_available() is false ("CUDA driver version is insufficient ...", "no CUDA device");
// empty when a device is available.
std::string unavailable_reason();
// Throws ff::Error naming `what` (e.g. "allocating 64 bytes on cuda:1") unless `index` names an
// existing device; the message carries unavailable_reason() when there is no device at all.
void check_device(int index, const char* what);

// The compute stream of `device` (created on first use), or the stream a StreamGuard installed
// for this thread on that device.
cudaStream_t current_stream(int device);
// The per-device compute stream, ignoring StreamGuards.
cudaStream_t compute_stream(int device);
int multiprocessor_count(int device);  // cached cudaDevAttrMultiProcessorCount

// Workspace for cuBLASLt matmuls on the current stream of the current device (kept per stream,
// so concurrent streams never share one). Allocated once from the caching allocator.
struct Workspace {
  void* data = nullptr;
  size_t bytes = 0;
};
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;  // NVIDIA's recommendation for Hopper
Workspace cublaslt_workspace();

// True when FF_CUDA_DETERMINISTIC=1: kernels that would otherwise use floating-point atomics
// (scatter_add) take their deterministic path.
bool deterministic();
void set_deterministic(bool on);

// Makes `device` current for the scope and restores the previous device on exit, unless the
// previous device has no CUDA context yet (a thread that never used a GPU starts on device 0):
// since CUDA 12 switching to a device creates its context, so restoring would put a context of
// a few hundred MiB on GPU 0 from every rank's helper threads. The thread then stays on `device`.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

// Makes `stream` the current stream of the current device for this thread, for the scope.
// Memory allocated inside the scope belongs to `stream` (see caching_allocator.h: record_stream).
class StreamGuard {
 public:
  explicit StreamGuard(cudaStream_t stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  int device_;
  cudaStream_t previous_;
};

// True when all work queued on `stream` so far has finished. CUDA's "not ready" answer is a
// status, not an error: it is cleared so the next launch check does not take it for a failure.
bool stream_done(cudaStream_t stream);

// An owned non-blocking stream on a device (the current one by default). The destructor waits
// for the stream's queued work before destroying it (see caching_allocator.h).
class Stream {
 public:
  explicit Stream(int device = -1, int priority = 0);
  ~Stream();
  Stream(Stream&& o) noexcept;
  Stream& operator=(Stream&&) = delete;
  Stream(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  int device() const { return device_; }
  void synchronize() const;
  bool query() const;  // true when all work queued so far has finished

 private:
  cudaStream_t stream_ = nullptr;
  int device_ = 0;
};

// An owned event, created on first record() (constructing one never touches the driver).
class Event {
 public:
  explicit Event(bool timing = false) : timing_(timing) {}
  ~Event();
  Event(Event&& o) noexcept;
  Event& operator=(Event&&) = delete;
  Event(const Event&) = delete;
  void record(cudaStream_t stream);
  void record() { record(current_stream()); }
  void wait(cudaStream_t stream) const;  // `stream` waits for the recorded work (no host block)
  void synchronize() const;              // host waits
  bool query() const;                    // true when recorded work finished (or never recorded)
  float elapsed_ms(const Event& end) const;  // both recorded with timing = true
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
  bool timing_;
  int device_ = -1;
};

}  // namespace ff::cuda

#define FF_CUDA_CHECK(call)                                                             \
  do {                                                                                  \
    const cudaError_t ff_err_ = (call);                                                 \
    if (ff_err_ != cudaSuccess)                                                         \
      ::ff::cuda::throw_cuda_error(__FILE__, __LINE__, #call, cudaGetErrorString(ff_err_)); \
  } while (0)

// After a kernel launch: reports launch-configuration errors at the launch site.
#define FF_CUDA_CHECK_LAUNCH() FF_CUDA_CHECK(cudaGetLastError())

#define FF_CUBLAS_CHECK(call)                                                                \
  do {                                                                                       \
    const cublasStatus_t ff_st_ = (call);                                                    \
    if (ff_st_ != CUBLAS_STATUS_SUCCESS)                                                     \
      ::ff::cuda::throw_cuda_error(__FILE__, __LINE__, #call, cublasGetStatusString(ff_st_)); \
  } while (0)

#define FF_CUDNN_CHECK(call)                                                              \
  do {                                                                                    \
    const cudnnStatus_t ff_st_ = (call);                                                  \
    if (ff_st_ != CUDNN_STATUS_SUCCESS)                                                   \
      ::ff::cuda::throw_cuda_error(__FILE__, __LINE__, #call, cudnnGetErrorString(ff_st_)); \
  } while (0)
