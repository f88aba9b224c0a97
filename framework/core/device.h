// Devices and the per-device backend interface (allocation, copies, synchronisation).
//
// The CPU backend is always present. The CUDA backend registers itself from the CUDA
// library at load time; asking for a device type with no backend raises a clear error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ff {

enum class DeviceType : uint8_t { CPU = 0, CUDA = 1 };
constexpr int kNumDeviceTypes = 2;

const char* device_type_name(DeviceType t);  // "cpu", "cuda"

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;  // ordinal for CUDA; always 0 for CPU

  Device() = default;
  Device(DeviceType t, int i = 0) : type(t), index(i) {}  // NOLINT: implicit from DeviceType
  static Device parse(const std::string& s);               // "cpu", "cuda", "cuda:1"

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

// Owning pointer to device memory; the deleter returns it to its allocator.
using DataPtr = std::unique_ptr<void, void (*)(void*)>;

// Allocates device memory. Implementations: CPU (aligned malloc), CUDA caching allocator.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual DataPtr allocate(size_t nbytes, int device_index) = 0;
};

// Everything the tensor core needs from a device. Copies are byte copies between
// two buffers, at least one of which lives on this backend's device type.
class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual DeviceType type() const = 0;
  virtual Allocator& allocator() = 0;
  virtual int device_count() const = 0;
  // dst/src device types are each either CPU or this backend's type.
  virtual void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                          size_t nbytes) = 0;
  virtual void synchronize(int device_index) = 0;
  // Makes `device_index` the calling thread's current device: the one library handles (cuBLAS,
  // cuDNN) and allocations without an explicit device use. A process driving one GPU selects it
  // once at start-up, as torch.cuda.set_device(local_rank) does. No-op for backends without one.
  virtual void set_current_device(int device_index) { (void)device_index; }
};

// Registry of backends by device type. Throws ff::Error when none is registered
// (e.g. CUDA in a CPU-only build) naming the device.
DeviceBackend& backend_for(DeviceType t);
bool has_backend(DeviceType t);
void register_backend(DeviceType t, DeviceBackend* backend);

}  // namespace ff
