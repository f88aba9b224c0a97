// A flat, device-tagged buffer shared by a tensor and all its views.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "framework/core/device.h"

namespace ff {

class Storage {
 public:
  Storage(size_t nbytes, Device device);  // allocates from the device backend's allocator
  // Adopts memory obtained elsewhere (e.g. ff::cuda::pinned_allocator(): page-locked host
  // memory is still a CPU buffer). `data` must hold at least `nbytes` bytes usable by `device`'s
  // backend; its deleter releases it when the last tensor using this storage goes away.
  Storage(DataPtr data, size_t nbytes, Device device);
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_.get(); }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  // Bumped by every in-place write; autograd uses it to detect that a tensor saved for
  // backward was modified after it was saved.
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  DataPtr data_;
  size_t nbytes_;
  Device device_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace ff
