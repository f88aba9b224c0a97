#include "framework/core/device.h"

#include <cstdlib>
#include <list>
#include <map>
#include <mutex>
#include <unordered_map>
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
//
// Blocks of 1 MiB and more are cached when freed and handed out again for the same rounded
// size. Without this every large activation or gradient is fresh mmap'd memory and pays a
// page fault per 4 KiB on first write, which measured as half the time of an elementwise op
// on a [32,128,56,56] float32 tensor. The cache holds at most FF_CPU_CACHE_MB megabytes, evicting
// the blocks freed longest ago when a new one needs room
// (default 2048); FF_CPU_CACHE_MB=0 turns caching off.
class CpuAllocator final : public Allocator {
 public:
  static CpuAllocator& instance() {
    static CpuAllocator* a = new CpuAllocator();  // never destroyed: deleters may run at exit
    return *a;
  }

  DataPtr allocate(size_t nbytes, int /*device_index*/) override {
    if (nbytes == 0) return DataPtr(nullptr, [](void*) {});
    if (nbytes < kCacheMinBytes || cache_limit_ == 0) {
      void* p = std::aligned_alloc(64, (nbytes + 63) / 64 * 64);
      FF_CHECK(p != nullptr, "out of host memory allocating {} bytes", nbytes);
      return DataPtr(p, [](void* q) { std::free(q); });
    }
    const size_t rounded = (nbytes + kLargeRounding - 1) / kLargeRounding * kLargeRounding;
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_blocks_.find(rounded);
      if (it != free_blocks_.end()) {
        p = it->second->second;
        free_order_.erase(it->second);
        free_blocks_.erase(it);
        cached_bytes_ -= rounded;
      }
    }
    if (!p) {
      p = std::aligned_alloc(64, rounded);
      if (!p) {  // give the cache back to the system and try once more
        release_cache();
        p = std::aligned_alloc(64, rounded);
      }
      FF_CHECK(p != nullptr, "out of host memory allocating {} bytes", nbytes);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      live_sizes_[p] = rounded;
    }
    return DataPtr(p, [](void* q) { instance().recycle(q); });
  }

 private:
  static constexpr size_t kCacheMinBytes = size_t{1} << 20;
  static constexpr size_t kLargeRounding = size_t{64} << 10;  // 64 KiB: reuse across nearby sizes

  CpuAllocator() {
    const char* env = std::getenv("FF_CPU_CACHE_MB");
    cache_limit_ = (env ? std::strtoull(env, nullptr, 10) : 2048ull) << 20;
  }

  void recycle(void* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_sizes_.find(p);
    FF_ASSERT(it != live_sizes_.end(), "freeing a host block the allocator does not know");
    const size_t size = it->second;
    live_sizes_.erase(it);
    if (size > cache_limit_) {
      std::free(p);
      return;
    }
    // Make room by releasing the blocks freed longest ago. Keeping the new block instead of the
    // old ones matters when the working set changes (training at batch 32, then verification at
    // batch 64): otherwise a cache full of the old sizes would never hit again and every new
    // allocation would pay its page faults (measured: half of the time in system calls).
    while (cached_bytes_ + size > cache_limit_) evict_oldest();
    free_order_.emplace_back(size, p);
    free_blocks_.emplace(size, std::prev(free_order_.end()));
    cached_bytes_ += size;
  }

  void evict_oldest() {
    FF_ASSERT(!free_order_.empty(), "CPU allocator cache accounting: {} bytes cached but no block", cached_bytes_);
    const auto [size, block] = free_order_.front();
    auto range = free_blocks_.equal_range(size);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == free_order_.begin()) {
        free_blocks_.erase(it);
        break;
      }
    }
    free_order_.pop_front();
    cached_bytes_ -= size;
    std::free(block);
  }

  void release_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, p] : free_order_) std::free(p);
    free_order_.clear();
    free_blocks_.clear();
    cached_bytes_ = 0;
  }

  std::mutex mutex_;
  using FreeList = std::list<std::pair<size_t, void*>>;  // (rounded size, block), oldest free first
  FreeList free_order_;
  std::multimap<size_t, FreeList::iterator> free_blocks_;  // rounded size -> its entry in free_order_
  std::unordered_map<void*, size_t> live_sizes_;
  size_t cached_bytes_ = 0;
  size_t cache_limit_ = 0;
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
  CpuAllocator& allocator_ = CpuAllocator::instance();
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
