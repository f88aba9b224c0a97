#include "framework/core/device.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "framework/common/check.h"

namespace ff {

const char* device_type_name(DeviceType t) {
  switch (t) {
    case DeviceType::CPU: return "cpu";
    case DeviceType::CUDA: return "cuda";
  }
  return "unknown";
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return Device(DeviceType::CPU);
  if (s.rfind("cuda", 0) == 0) {
    if (s.size() == 4) return Device(DeviceType::CUDA, 0);
    FF_CHECK(s[4] == ':' && s.size() > 5, "bad device string '{}': expected cpu, cuda or cuda:N", s);
    char* end = nullptr;
    const long idx = std::strtol(s.c_str() + 5, &end, 10);
    FF_CHECK(*end == '\0' && idx >= 0, "bad device string '{}': expected cpu, cuda or cuda:N", s);
    return Device(DeviceType::CUDA, static_cast<int>(idx));
  }
  FF_THROW("bad device string '{}': expected cpu, cuda or cuda:N", s);
}

std::string Device::str() const {
  if (type == DeviceType::CPU) return "cpu";
  return fmt::format("{}:{}", device_type_name(type), index);
}

namespace {

// 64-byte aligned host memory: matches AVX-512 vectors and cache lines.
class CpuAllocator final : public Allocator {
 public:
  DataPtr allocate(size_t nbytes, int /*device_index*/) override {
    if (nbytes == 0) return DataPtr(nullptr, [](void*) {});
    const size_t rounded = (nbytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    FF_CHECK(p != nullptr, "out of host memory allocating {} bytes", nbytes);
    return DataPtr(p, [](void* q) { std::free(q); });
  }
};

class CpuBackend final : public DeviceBackend {
 public:
  DeviceType type() const override { return DeviceType::CPU; }
  Allocator& allocator() override { return allocator_; }
  int device_count() const override { return 1; }
  void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                  size_t nbytes) override {
    FF_ASSERT(dst_device.is_cpu() && src_device.is_cpu(), "CPU backend asked to copy {} -> {}",
              src_device.str(), dst_device.str());
    if (nbytes) std::memcpy(dst, src, nbytes);
  }
  void synchronize(int) override {}

 private:
  CpuAllocator allocator_;
};

DeviceBackend& cpu_backend() {
  static CpuBackend cpu;
  return cpu;
}

// Function-local so that it is ready whenever another static initialiser asks for it.
DeviceBackend*& backend_slot(DeviceType t) {
  static DeviceBackend* slots[kNumDeviceTypes] = {&cpu_backend(), nullptr};
  return slots[static_cast<int>(t)];
}

}  // namespace

DeviceBackend& backend_for(DeviceType t) {
  DeviceBackend* b = backend_slot(t);
  FF_CHECK(b != nullptr,
           "no backend for device type '{}': this build of FaceFlow was compiled without it, "
           "or its library was not loaded",
           device_type_name(t));
  return *b;
}

bool has_backend(DeviceType t) { return backend_slot(t) != nullptr; }

void register_backend(DeviceType t, DeviceBackend* backend) { backend_slot(t) = backend; }

}  // namespace ff
