// The CUDA backend's behaviour that does not need a GPU: registration, device counting and
// clear errors without a driver, and kernel coverage (every op with a CPU kernel handled here
// has a CUDA kernel for the same dtypes). These tests run (not skip) on every machine.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "framework/core/device.h"
#include "framework/dispatch/registry.h"
#include "ops/reduce/reduce.h"

#ifdef FF_WITH_CUDA
#include "framework/cuda/caching_allocator.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/cuda/pinned_allocator.h"
#endif

namespace ff {
namespace {

using cuda_test::gpu;

void expect_error_mentioning(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an ff::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
  }
}

#ifdef FF_WITH_CUDA

TEST(CudaBackend, IsRegisteredAndCountsDevices) {
  ASSERT_TRUE(has_backend(DeviceType::CUDA));
  DeviceBackend& b = backend_for(DeviceType::CUDA);
  EXPECT_EQ(b.type(), DeviceType::CUDA);
  EXPECT_EQ(b.device_count(), cuda::device_count());
  int n = 0;
  const bool driver_ok = cudaGetDeviceCount(&n) == cudaSuccess;
  (void)cudaGetLastError();
  EXPECT_EQ(cuda::device_count(), driver_ok ? n : 0);
  EXPECT_EQ(cuda::is_available(), cuda::device_count() > 0);
  EXPECT_EQ(cuda::unavailable_reason().empty(), cuda::is_available());
  if (!cuda::is_available()) std::printf("[ info ] no CUDA device: %s\n", cuda::unavailable_reason().c_str());
}

TEST(CudaBackend, AllocationWithoutDeviceIsAClearError) {
  if (cuda::is_available()) {
    // With a GPU: an index past the last device is the error.
    const int n = cuda::device_count();
    expect_error_mentioning([&] { Tensor::empty({4}, DType::Float32, gpu(n)); },
                            {"cuda:" + std::to_string(n), "only"});
    return;
  }
  expect_error_mentioning([] { Tensor::empty({4}, DType::Float32, gpu()); },
                          {"cuda:0", "no CUDA device is available"});
  expect_error_mentioning([] { Tensor::empty({0}, DType::Float32, gpu()); }, {"no CUDA device is available"});
  expect_error_mentioning([] { ones({3}).to(Device::parse("cuda")); }, {"no CUDA device is available"});
  expect_error_mentioning([] { cuda::current_stream(); }, {"no CUDA device is available"});
  expect_error_mentioning([] { cuda::cuda_allocate(16, 0); }, {"no CUDA device is available"});
  // The host side keeps working.
  EXPECT_EQ(sum(ones({3})).item<float>(), 3.0f);
}

TEST(CudaBackend, PinnedAllocatorFallsBackWithoutDevice) {
  DataPtr p = cuda::pinned_allocate(1000);
  ASSERT_NE(p.get(), nullptr);
  EXPECT_EQ(cuda::is_pinned(p.get()), cuda::is_available());
  static_cast<char*>(p.get())[999] = 1;  // usable host memory either way
  EXPECT_EQ(cuda::pinned_allocate(0).get(), nullptr);
}

// Every op whose CUDA kernel lives in this part of the code base: CUDA dtypes == CPU dtypes.
TEST(CudaBackend, KernelsCoverTheCpuDtypes) {
  const std::vector<std::string> ops = {
      "add",   "sub",   "mul",   "div",   "maximum", "minimum",    "pow",   "eq",     "ne",     "lt",
      "le",    "gt",    "ge",    "axpy_", "neg",     "abs",        "exp",   "log",    "sqrt",   "rsqrt",
      "acos",  "cos",   "sin",   "pow_scalar",       "clamp",      "where", "sum",    "mean",   "max",
      "min",   "argmax", "argmin", "copy", "fill",   "arange",     "random", "index_select", "gather",
      "scatter_add", "one_hot", "concat"};
  const auto& reg = dispatch::Registry::instance();
  for (const std::string& op : ops) {
    ASSERT_TRUE(reg.has_op(op)) << op;
    for (int t = 0; t < kNumDTypes; ++t) {
      const auto dt = static_cast<DType>(t);
      EXPECT_EQ(reg.has_kernel(op, DeviceType::CPU, dt), reg.has_kernel(op, DeviceType::CUDA, dt))
          << op << " " << dtype_name(dt);
    }
  }
}

#else  // CPU-only build

TEST(CudaBackend, AbsentInCpuOnlyBuild) {
  EXPECT_FALSE(has_backend(DeviceType::CUDA));
  expect_error_mentioning([] { Tensor::empty({4}, DType::Float32, gpu()); }, {"no backend for device type 'cuda'"});
}

#endif

}  // namespace
}  // namespace ff
