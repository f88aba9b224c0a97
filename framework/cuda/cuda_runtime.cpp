// The CUDA device runtime: error reporting, device discovery, per-device compute streams,
// guards, events and the lazily created cuBLAS / cuBLASLt / cuDNN handles.
//
// Nothing runs at static-initialisation time: the first call that needs the driver asks for
// it, so binaries start (and tests skip) on machines without one. Per-device state is created
// once (std::call_once) and deliberately never destroyed: destroying streams or library
// handles from static destructors races the CUDA runtime's own shutdown.
#include "framework/cuda/cuda_runtime.h"

#include <cuda.h>  // CUresult / CUdevice for the driver entry point (no libcuda link)

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "framework/cuda/caching_allocator.h"
#include "framework/cuda/pinned_allocator.h"

namespace ff::cuda {

void throw_cuda_error(const char* file, int line, const char* call, const char* what) {
  ::ff::detail::throw_error(file, line, fmt::format("CUDA error: {} failed: {}", call, what));
}

// ---- devices ---------------------------------------------------------------------------------------
namespace {

constexpr int kMaxDevices = 64;  // per-thread stream slots; more devices are not used

struct Availability {
  int count = 0;
  std::string reason;
};

const Availability& availability() {
  static const Availability a = [] {
    Availability r;
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      // Without a driver this is cudaErrorInsufficientDriver (35), with only the stub library
      // cudaErrorStubLibrary (34). Clear it so the next FF_CUDA_CHECK_LAUNCH does not see it.
      (void)cudaGetLastError();
      r.reason = fmt::format("cudaGetDeviceCount failed: {} ({})", cudaGetErrorString(err), static_cast<int>(err));
    } else if (n == 0) {
      r.reason = "cudaGetDeviceCount found no CUDA device";
    } else {
      r.count = n < kMaxDevices ? n : kMaxDevices;
    }
    return r;
  }();
  return a;
}

// Everything created per device on first use.
struct DeviceState {
  std::once_flag stream_once;
  cudaStream_t stream = nullptr;
  int sm_count = 0;
  std::mutex handles_mu;  // guards the handles and workspaces below
  cublasHandle_t cublas = nullptr;
  cudaStream_t cublas_stream = nullptr;  // the stream the cuBLAS handle was last bound to
  cublasLtHandle_t cublaslt = nullptr;
  cudnnHandle_t cudnn = nullptr;
  std::map<cudaStream_t, DataPtr> cublas_workspaces;  // one per stream: streams may run concurrently
  std::map<cudaStream_t, DataPtr> cublaslt_workspaces;
};

DeviceState& device_state(int device) {
  static std::array<std::atomic<DeviceState*>, kMaxDevices> states{};
  static std::mutex mu;
  FF_ASSERT(device >= 0 && device < kMaxDevices, "device index {} out of range", device);
  DeviceState* s = states[device].load(std::memory_order_acquire);
  if (s) return *s;
  std::lock_guard<std::mutex> lock(mu);
  s = states[device].load(std::memory_order_relaxed);
  if (!s) {
    s = new DeviceState();  // never freed (see the file comment)
    states[device].store(s, std::memory_order_release);
  }
  return *s;
}

// Streams installed by StreamGuard, per thread and device (nullptr: the compute stream).
thread_local std::array<cudaStream_t, kMaxDevices> tls_streams{};

std::atomic<int> g_deterministic{-1};  // -1: not read from the environment yet

}  // namespace

bool is_available() { return availability().count > 0; }
int device_count() { return availability().count; }
std::string unavailable_reason() { return availability().reason; }

void check_device(int index, const char* what) {
  const Availability& a = availability();
  FF_CHECK(a.count > 0, "{} on cuda:{}: no CUDA device is available ({})", what, index, a.reason);
  FF_CHECK(index >= 0 && index < a.count, "{} on cuda:{}: there are only {} CUDA device(s) (cuda:0 to cuda:{})",
           what, index, a.count, a.count - 1);
}

int current_device() {
  check_device(0, "current_device");
  int d = 0;
  FF_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

void set_device(int index) {
  check_device(index, "set_device");
  FF_CUDA_CHECK(cudaSetDevice(index));
}

int multiprocessor_count(int device) {
  DeviceState& s = device_state(device);
  if (s.sm_count == 0) {
    int n = 0;
    FF_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    s.sm_count = n;  // a benign race: every thread writes the same value
  }
  return s.sm_count;
}

bool deterministic() {
  int v = g_deterministic.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* e = std::getenv("FF_CUDA_DETERMINISTIC");
    v = (e && std::strcmp(e, "0") != 0 && e[0] != '\0') ? 1 : 0;
    g_deterministic.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}
void set_deterministic(bool on) { g_deterministic.store(on ? 1 : 0, std::memory_order_relaxed); }

// ---- streams ---------------------------------------------------------------------------------------
cudaStream_t compute_stream(int device) {
  check_device(device, "compute_stream");
  DeviceState& s = device_state(device);
  std::call_once(s.stream_once, [&] {
    DeviceGuard guard(device);
    // Non-blocking: no implicit synchronisation with the legacy default stream, so every
    // FaceFlow kernel, copy and library call must be issued on this stream (or a guarded one).
    FF_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  });
  return s.stream;
}

cudaStream_t current_stream(int device) {
  check_device(device, "current_stream");
  const cudaStream_t override_stream = tls_streams[device];
  return override_stream ? override_stream : compute_stream(device);
}

cudaStream_t current_stream() { return current_stream(current_device()); }

namespace {

// Whether `device`'s primary context exists, asked without creating it: the driver's
// cuDevicePrimaryCtxGetState, found through the runtime so that nothing links libcuda itself.
// When the driver cannot say, true (restore, as without the check).
bool primary_context_active(int device) {
  using GetState = CUresult (*)(CUdevice, unsigned int*, int*);
  static const GetState get_state = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult status = cudaDriverEntryPointSymbolNotFound;
    const cudaError_t rc =
        cudaGetDriverEntryPointByVersion("cuDevicePrimaryCtxGetState", &fn, 7000, cudaEnableDefault, &status);
    if (rc != cudaSuccess || status != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      return static_cast<GetState>(nullptr);
    }
    return reinterpret_cast<GetState>(fn);
  }();
  if (get_state == nullptr) return true;
  unsigned int flags = 0;
  int active = 0;
  if (get_state(static_cast<CUdevice>(device), &flags, &active) != CUDA_SUCCESS) return true;
  return active != 0;
}

}  // namespace

DeviceGuard::DeviceGuard(int device) {
  check_device(device, "DeviceGuard");
  FF_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ == device) {
    previous_ = -1;  // nothing to restore
    return;
  }
  if (!primary_context_active(previous_)) previous_ = -1;  // see the header: do not create one
  FF_CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0) (void)cudaSetDevice(previous_);  // destructors must not throw
}

StreamGuard::StreamGuard(cudaStream_t stream) : device_(current_device()), previous_(tls_streams[device_]) {
  tls_streams[device_] = stream;
}
StreamGuard::~StreamGuard() { tls_streams[device_] = previous_; }

Stream::Stream(int device, int priority) {
  device_ = device < 0 ? current_device() : device;
  DeviceGuard guard(device_);
  FF_CUDA_CHECK(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, priority));
}
Stream::Stream(Stream&& o) noexcept : stream_(o.stream_), device_(o.device_) { o.stream_ = nullptr; }
Stream::~Stream() {
  if (!stream_) return;
  // Wait for the stream's work first: the caching allocator keys cached blocks by stream handle,
  // and a stream created later may get the same handle and reuse those blocks at once.
  (void)cudaStreamSynchronize(stream_);
  retire_stream(stream_);
  pinned_retire_stream(stream_);
  (void)cudaStreamDestroy(stream_);
}
void Stream::synchronize() const { FF_CUDA_CHECK(cudaStreamSynchronize(stream_)); }
bool stream_done(cudaStream_t stream) {
  const cudaError_t err = cudaStreamQuery(stream);
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  FF_CUDA_CHECK(err);
  return true;
}
bool Stream::query() const { return stream_done(stream_); }

// ---- events ---------------------------------------------------------------------------------------
Event::Event(Event&& o) noexcept : event_(o.event_), timing_(o.timing_), device_(o.device_) { o.event_ = nullptr; }
Event::~Event() {
  if (event_) (void)cudaEventDestroy(event_);
}
void Event::record(cudaStream_t stream) {
  if (!event_) {
    device_ = current_device();
    FF_CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing_ ? cudaEventDefault : cudaEventDisableTiming));
  }
  FF_CUDA_CHECK(cudaEventRecord(event_, stream));
}
void Event::wait(cudaStream_t stream) const {
  if (event_) FF_CUDA_CHECK(cudaStreamWaitEvent(stream, event_, 0));
}
void Event::synchronize() const {
  if (event_) FF_CUDA_CHECK(cudaEventSynchronize(event_));
}
bool Event::query() const {
  if (!event_) return true;
  const cudaError_t err = cudaEventQuery(event_);
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  FF_CUDA_CHECK(err);
  return true;
}
float Event::elapsed_ms(const Event& end) const {
  FF_CHECK(event_ && end.event_ && timing_ && end.timing_,
           "Event::elapsed_ms: both events must be recorded and created with timing = true");
  float ms = 0.f;
  FF_CUDA_CHECK(cudaEventElapsedTime(&ms, event_, end.event_));
  return ms;
}

// ---- library handles -------------------------------------------------------------------------------
namespace {
// A workspace for `stream` from the caching allocator (allocated on that stream, kept for the
// life of the process like the handles themselves).
void* workspace_for(std::map<cudaStream_t, DataPtr>& ws, int device, cudaStream_t stream) {
  auto it = ws.find(stream);
  if (it == ws.end()) it = ws.emplace(stream, cuda_allocate(kCublasWorkspaceBytes, device, stream)).first;
  return it->second.get();
}
}  // namespace

cublasHandle_t cublas_handle() {
  const int device = current_device();
  DeviceState& s = device_state(device);
  const cudaStream_t stream = current_stream(device);
  std::lock_guard<std::mutex> lock(s.handles_mu);
  if (!s.cublas) FF_CUBLAS_CHECK(cublasCreate(&s.cublas));
  if (s.cublas_stream != stream || s.cublas_workspaces.empty()) {
    // cublasSetStream resets the workspace to cuBLAS's internal pool: set ours again after it.
    FF_CUBLAS_CHECK(cublasSetStream(s.cublas, stream));
    FF_CUBLAS_CHECK(cublasSetWorkspace(s.cublas, workspace_for(s.cublas_workspaces, device, stream),
                                       kCublasWorkspaceBytes));
    s.cublas_stream = stream;
  }
  return s.cublas;
}

cublasLtHandle_t cublaslt_handle() {
  DeviceState& s = device_state(current_device());
  std::lock_guard<std::mutex> lock(s.handles_mu);
  if (!s.cublaslt) FF_CUBLAS_CHECK(cublasLtCreate(&s.cublaslt));
  return s.cublaslt;
}

Workspace cublaslt_workspace() {
  const int device = current_device();
  DeviceState& s = device_state(device);
  const cudaStream_t stream = current_stream(device);
  std::lock_guard<std::mutex> lock(s.handles_mu);
  return Workspace{workspace_for(s.cublaslt_workspaces, device, stream), kCublasWorkspaceBytes};
}

cudnnHandle_t cudnn_handle() {
  const int device = current_device();
  DeviceState& s = device_state(device);
  const cudaStream_t stream = current_stream(device);
  std::lock_guard<std::mutex> lock(s.handles_mu);
  if (!s.cudnn) FF_CUDNN_CHECK(cudnnCreate(&s.cudnn));
  FF_CUDNN_CHECK(cudnnSetStream(s.cudnn, stream));  // cheap; follows StreamGuards
  return s.cudnn;
}

}  // namespace ff::cuda
