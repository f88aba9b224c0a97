// Caching pinned host allocator (see pinned_allocator.h).
#include "framework/cuda/pinned_allocator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "framework/cuda/cuda_runtime.h"

namespace ff::cuda {
namespace {

struct HostBlock {
  void* ptr = nullptr;
  size_t size = 0;
  bool pinned = false;
  std::vector<std::pair<int, cudaStream_t>> streams;  // (device, stream) recorded while handed out
  std::vector<std::pair<int, cudaEvent_t>> events;    // recorded on those streams at free time
};

size_t round_host_size(size_t n) {
  if (n > (size_t{1} << 20)) return (n + (size_t{2} << 20) - 1) / (size_t{2} << 20) * (size_t{2} << 20);
  size_t p = 4096;
  while (p < n) p <<= 1;
  return p;
}

void free_host_ptr(void* p);

class PinnedAllocator {
 public:
  DataPtr allocate(size_t nbytes) {
    if (nbytes == 0) return DataPtr(nullptr, [](void*) {});
    const size_t size = round_host_size(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    process_pending();
    HostBlock* b = nullptr;
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      b = it->second.back();
      it->second.pop_back();
    } else {
      b = new_block(size);
    }
    active_.emplace(static_cast<char*>(b->ptr), b);
    stats_.allocated_bytes += static_cast<int64_t>(b->size);
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
    return DataPtr(b->ptr, &free_host_ptr);
  }

  void free(void* p) {  // from the deleter: never throws
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = active_.find(static_cast<char*>(p));
    if (it == active_.end()) {
      std::fprintf(stderr, "[faceflow] pinned allocator: free of unknown pointer %p ignored\n", p);
      return;
    }
    HostBlock* b = it->second;
    active_.erase(it);
    stats_.allocated_bytes -= static_cast<int64_t>(b->size);
    if (!b->pinned) {  // pageable fallback: nothing to wait for, nothing worth caching
      std::free(b->ptr);
      delete b;
      return;
    }
    for (const auto& [device, stream] : b->streams) {
      if (!record_free_event(*b, device, stream)) {
        // No event to wait for: wait for the stream here, or the block could be handed out
        // again while a copy from it is still queued.
        if (cudaStreamSynchronize(stream) != cudaSuccess) (void)cudaGetLastError();
      }
    }
    b->streams.clear();
    if (b->events.empty()) {
      free_[b->size].push_back(b);
    } else {
      pending_.push_back(b);
    }
  }

  void record_stream(const void* p, cudaStream_t stream) {
    const int device = current_device();
    std::lock_guard<std::mutex> lock(mu_);
    HostBlock* b = containing(p);
    FF_CHECK(b != nullptr, "pinned_record_stream: {} is not inside memory from pinned_allocate", p);
    if (!b->pinned) return;
    for (const auto& s : b->streams) {
      if (s.first == device && s.second == stream) return;
    }
    b->streams.emplace_back(device, stream);
  }

  // `stream` is about to be destroyed and its work has finished (Stream::~Stream synchronises
  // first): no block needs an event on it any more, and a new stream that gets the same handle
  // must not be taken for it.
  void retire_stream(cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& entry : active_) {
      auto& streams = entry.second->streams;
      streams.erase(std::remove_if(streams.begin(), streams.end(), [&](const auto& s) { return s.second == stream; }),
                    streams.end());
    }
  }

  bool is_pinned(const void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    const HostBlock* b = containing(p);
    return b && b->pinned;
  }

  PinnedStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    process_pending();
    for (auto& [size, blocks] : free_) {
      for (HostBlock* b : blocks) {
        if (cudaFreeHost(b->ptr) != cudaSuccess) (void)cudaGetLastError();
        stats_.reserved_bytes -= static_cast<int64_t>(b->size);
        delete b;
      }
      blocks.clear();
    }
  }

 private:
  // The handed-out block whose bytes include p, or null.
  HostBlock* containing(const void* p) {
    const char* c = static_cast<const char*>(p);
    auto it = active_.upper_bound(const_cast<char*>(c));
    if (it == active_.begin()) return nullptr;
    --it;
    return c < it->first + it->second->size ? it->second : nullptr;
  }

  // Records, on `stream` of `device`, the event a freed block waits for; false if CUDA refused.
  // A DeviceGuard: a thread that never used CUDA must not get a context on device 0 from this.
  static bool record_free_event(HostBlock& b, int device, cudaStream_t stream) noexcept {
    try {
      DeviceGuard guard(device);
      cudaEvent_t ev = nullptr;
      if (cudaEventCreateWithFlags(&ev, cudaEventDisableTiming) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
      }
      if (cudaEventRecord(ev, stream) != cudaSuccess) {
        (void)cudaGetLastError();
        (void)cudaEventDestroy(ev);
        return false;
      }
      b.events.emplace_back(device, ev);
      return true;
    } catch (...) {
      return false;
    }
  }

  // Blocks whose recorded work has finished become reusable.
  void process_pending() {
    for (size_t i = 0; i < pending_.size();) {
      HostBlock* b = pending_[i];
      bool done = true;
      for (const auto& [device, ev] : b->events) {
        const cudaError_t err = cudaEventQuery(ev);
        if (err == cudaErrorNotReady) {
          (void)cudaGetLastError();
          done = false;
          break;
        }
        FF_CUDA_CHECK(err);
      }
      if (!done) {
        ++i;
        continue;
      }
      for (const auto& [device, ev] : b->events) (void)cudaEventDestroy(ev);
      b->events.clear();
      free_[b->size].push_back(b);
      pending_[i] = pending_.back();
      pending_.pop_back();
    }
  }

  HostBlock* new_block(size_t size) {
    auto* b = new HostBlock;
    b->size = size;
    if (is_available()) {
      cudaError_t err = cudaHostAlloc(&b->ptr, size, cudaHostAllocPortable);
      if (err == cudaErrorMemoryAllocation) {  // give back the cache and try once more
        (void)cudaGetLastError();
        for (auto& [s, blocks] : free_) {
          for (HostBlock* f : blocks) {
            (void)cudaFreeHost(f->ptr);
            stats_.reserved_bytes -= static_cast<int64_t>(f->size);
            delete f;
          }
          blocks.clear();
        }
        err = cudaHostAlloc(&b->ptr, size, cudaHostAllocPortable);
      }
      if (err == cudaSuccess) {
        b->pinned = true;
        stats_.reserved_bytes += static_cast<int64_t>(size);
        ++stats_.num_host_allocs;
        return b;
      }
      (void)cudaGetLastError();
      if (!warned_) {
        std::fprintf(stderr, "[faceflow] pinned allocator: cudaHostAlloc of %zu bytes failed (%s); using pageable memory\n",
                     size, cudaGetErrorString(err));
        warned_ = true;
      }
    }
    b->ptr = std::aligned_alloc(64, size);
    if (!b->ptr) {
      delete b;
      FF_THROW("pinned_allocate: out of host memory allocating {} bytes", size);
    }
    ++stats_.num_fallbacks;
    return b;
  }

  std::mutex mu_;
  std::map<char*, HostBlock*> active_;  // ordered: is_pinned/record_stream accept interior pointers
  std::map<size_t, std::vector<HostBlock*>> free_;
  std::vector<HostBlock*> pending_;
  PinnedStats stats_;
  bool warned_ = false;
};

PinnedAllocator& instance() {
  static PinnedAllocator* a = new PinnedAllocator();  // never destroyed (see caching_allocator.cpp)
  return *a;
}

void free_host_ptr(void* p) { instance().free(p); }

class PinnedAllocatorAdapter final : public Allocator {
 public:
  DataPtr allocate(size_t nbytes, int /*device_index*/) override { return pinned_allocate(nbytes); }
};

}  // namespace

DataPtr pinned_allocate(size_t nbytes) { return instance().allocate(nbytes); }
bool is_pinned(const void* ptr) { return ptr && instance().is_pinned(ptr); }
void pinned_retire_stream(cudaStream_t stream) {
  if (stream) instance().retire_stream(stream);
}
void pinned_record_stream(const void* ptr, cudaStream_t stream) {
  if (ptr) instance().record_stream(ptr, stream);
}

void copy_pinned_to_device_async(void* dst, const void* pinned_src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  DeviceGuard guard(device);
  const cudaStream_t stream = current_stream(device);
  FF_CUDA_CHECK(cudaMemcpyAsync(dst, pinned_src, nbytes, cudaMemcpyHostToDevice, stream));
  if (is_pinned(pinned_src)) {
    pinned_record_stream(pinned_src, stream);
  } else {
    FF_CUDA_CHECK(cudaStreamSynchronize(stream));  // the caller may reuse a pageable buffer at once
  }
}

PinnedStats pinned_stats() { return instance().stats(); }
void pinned_empty_cache() { instance().empty_cache(); }

Allocator& pinned_allocator() {
  static PinnedAllocatorAdapter* a = new PinnedAllocatorAdapter();
  return *a;
}

}  // namespace ff::cuda
