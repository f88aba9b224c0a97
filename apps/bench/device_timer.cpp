#include "apps/bench/device_timer.h"

#include <algorithm>
#include <chrono>

#include "framework/common/check.h"

#ifdef FF_WITH_CUDA
#include "framework/cuda/cuda_runtime.h"
#endif

namespace ff::bench {

void check_device_usable(const Device& device) {
  if (device.is_cpu()) return;
#ifdef FF_WITH_CUDA
  FF_CHECK(cuda::is_available(), "no CUDA device: {}", cuda::unavailable_reason());
  cuda::check_device(device.index, "the benchmark");
  // cuDNN, cuBLAS and the compute stream follow the current device, not the tensors' device.
  backend_for(device.type).set_current_device(device.index);
#else
  FF_THROW("{} was asked for, but this build has no CUDA backend (configure with -DFF_WITH_CUDA=ON)", device.str());
#endif
}

void synchronize(const Device& device) { backend_for(device.type).synchronize(device.index); }

struct DeviceTimer::Impl {
  Device device;
  std::vector<std::chrono::steady_clock::time_point> host_start;
  std::vector<double> host_ms;
#ifdef FF_WITH_CUDA
  std::vector<std::unique_ptr<cuda::Event>> starts, ends;
#endif
};

DeviceTimer::DeviceTimer(const Device& device, int runs) : impl_(std::make_unique<Impl>()) {
  FF_ASSERT(runs >= 1, "DeviceTimer needs at least one run, got {}", runs);
  impl_->device = device;
  impl_->host_start.resize(static_cast<size_t>(runs));
  impl_->host_ms.assign(static_cast<size_t>(runs), 0.0);
#ifdef FF_WITH_CUDA
  if (device.is_cuda()) {
    for (int i = 0; i < runs; ++i) {
      impl_->starts.push_back(std::make_unique<cuda::Event>(true));
      impl_->ends.push_back(std::make_unique<cuda::Event>(true));
    }
  }
#endif
}

DeviceTimer::~DeviceTimer() = default;

void DeviceTimer::start(int run) {
  const size_t i = static_cast<size_t>(run);
  FF_ASSERT(i < impl_->host_ms.size(), "run {} of {}", run, impl_->host_ms.size());
#ifdef FF_WITH_CUDA
  if (impl_->device.is_cuda()) return impl_->starts[i]->record();
#endif
  impl_->host_start[i] = std::chrono::steady_clock::now();
}

void DeviceTimer::stop(int run) {
  const size_t i = static_cast<size_t>(run);
  FF_ASSERT(i < impl_->host_ms.size(), "run {} of {}", run, impl_->host_ms.size());
#ifdef FF_WITH_CUDA
  if (impl_->device.is_cuda()) return impl_->ends[i]->record();
#endif
  impl_->host_ms[i] =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - impl_->host_start[i]).count();
}

std::vector<double> DeviceTimer::milliseconds() const {
#ifdef FF_WITH_CUDA
  if (impl_->device.is_cuda()) {
    std::vector<double> ms;
    for (size_t i = 0; i < impl_->starts.size(); ++i) ms.push_back(impl_->starts[i]->elapsed_ms(*impl_->ends[i]));
    return ms;
  }
#endif
  return impl_->host_ms;
}

double median(std::vector<double> v) {
  FF_ASSERT(!v.empty(), "median of no values");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace ff::bench
