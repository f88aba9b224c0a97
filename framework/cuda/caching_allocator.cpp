// The CUDA caching allocator (design in caching_allocator.h and docs/cuda.md).
//
// Data structures: every cudaMalloc'd segment is a doubly linked list of Blocks in address
// order; free Blocks sit in a per-device pool (small or large) ordered by (stream, size,
// address) so that a best fit on one stream is a lower_bound. Handed-out Blocks are found by
// pointer in `active_` when the DataPtr deleter (a plain function pointer) returns them.
// Invariant: all Blocks of one segment belong to the same stream (only whole, fully free
// segments change stream, and a destroyed stream hands all its blocks on together), so
// neighbours can always merge.
#include "framework/cuda/caching_allocator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "framework/cuda/cuda_runtime.h"

namespace ff::cuda {
namespace {

struct Block {
  int device = 0;
  cudaStream_t stream = nullptr;
  size_t size = 0;       // bytes of this block (rounded)
  size_t requested = 0;  // bytes the caller asked for (while handed out)
  char* ptr = nullptr;
  bool allocated = false;  // handed out, or waiting for record_stream events
  bool small = false;      // which pool
  bool cached = true;      // false: a direct cudaMalloc made while caching was off
  Block* prev = nullptr;   // neighbours inside the segment
  Block* next = nullptr;
  cudaEvent_t reuse_event = nullptr;       // whole free segment: recorded on `stream` before moving it
  std::vector<cudaStream_t> used_streams;  // record_stream
  bool whole_segment() const { return prev == nullptr && next == nullptr; }
};

struct BlockLess {
  bool operator()(const Block* a, const Block* b) const {
    const auto sa = reinterpret_cast<uintptr_t>(a->stream), sb = reinterpret_cast<uintptr_t>(b->stream);
    if (sa != sb) return sa < sb;
    if (a->size != b->size) return a->size < b->size;
    return reinterpret_cast<uintptr_t>(a->ptr) < reinterpret_cast<uintptr_t>(b->ptr);
  }
};
using Pool = std::set<Block*, BlockLess>;

struct PendingFree {
  Block* block;
  std::vector<cudaEvent_t> events;
};

struct DeviceState {
  Pool small_pool, large_pool;
  std::vector<PendingFree> pending;
  std::vector<cudaEvent_t> spare_events;
  AllocatorStats stats;
};

size_t round_size(size_t n) {
  if (n <= kSmallRequest) return (n + kSmallRound - 1) / kSmallRound * kSmallRound;
  return (n + kLargeRound - 1) / kLargeRound * kLargeRound;
}

std::string format_bytes(int64_t b) {
  const double v = static_cast<double>(b);
  if (b >= (int64_t{1} << 30)) return fmt::format("{:.2f} GiB", v / (1 << 30));
  if (b >= (int64_t{1} << 20)) return fmt::format("{:.2f} MiB", v / (1 << 20));
  return fmt::format("{} bytes", b);
}

bool env_caching_enabled() {
  const char* v = std::getenv("FF_CUDA_CACHING_ALLOCATOR");
  return !(v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0 || std::strcmp(v, "false") == 0));
}

void free_device_ptr(void* ptr);

class CachingAllocator {
 public:
  DataPtr allocate(size_t nbytes, int device, cudaStream_t stream) {
    check_device(device, "allocating device memory");
    if (nbytes == 0) return DataPtr(nullptr, [](void*) {});
    std::lock_guard<std::mutex> lock(mu_);
    DeviceState& ds = state(device);
    process_pending(ds);
    Block* b = enabled_ ? take_cached(ds, device, stream, nbytes) : take_uncached(ds, device, stream, nbytes);
    b->allocated = true;
    b->requested = nbytes;
    active_.emplace(b->ptr, b);
    AllocatorStats& st = ds.stats;
    st.allocated_bytes += static_cast<int64_t>(b->size);
    st.requested_bytes += static_cast<int64_t>(nbytes);
    st.peak_allocated_bytes = std::max(st.peak_allocated_bytes, st.allocated_bytes);
    ++st.num_allocs;
    ++st.active_blocks;
    return DataPtr(b->ptr, &free_device_ptr);
  }

  // Called from the DataPtr deleter: must not throw.
  void free(void* ptr) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = active_.find(ptr);
    if (it == active_.end()) {
      std::fprintf(stderr, "[faceflow] CUDA caching allocator: free of unknown pointer %p ignored\n", ptr);
      return;
    }
    Block* b = it->second;
    active_.erase(it);
    DeviceState& ds = *devices_[b->device];
    AllocatorStats& st = ds.stats;
    st.allocated_bytes -= static_cast<int64_t>(b->size);
    st.requested_bytes -= static_cast<int64_t>(b->requested);
    ++st.num_frees;
    --st.active_blocks;
    b->requested = 0;
    if (!b->cached) {  // cudaFree synchronises the device, so pending work cannot still use it
      DeviceGuard guard(b->device);
      report_if_error(cudaFree(b->ptr), "cudaFree");
      st.reserved_bytes -= static_cast<int64_t>(b->size);
      ++st.num_cuda_frees;
      delete b;
      return;
    }
    if (!b->used_streams.empty()) {
      // Other streams may still read or write the block: reuse waits for their work so far.
      PendingFree pf{b, {}};
      DeviceGuard guard(b->device);
      for (cudaStream_t s : b->used_streams) {
        cudaEvent_t ev = nullptr;
        if (report_if_error(acquire_event(ds, &ev), "cudaEventCreate")) {
          if (report_if_error(cudaEventRecord(ev, s), "cudaEventRecord")) {
            pf.events.push_back(ev);
            continue;
          }
          ds.spare_events.push_back(ev);
        }
        // No event to wait for: wait for the stream here, or the block could be handed out
        // while that stream's kernels still use it.
        report_if_error(cudaStreamSynchronize(s), "cudaStreamSynchronize");
      }
      b->used_streams.clear();
      ds.pending.push_back(std::move(pf));
      return;
    }
    return_to_pool(ds, b);
  }

  void record_stream(const void* ptr, cudaStream_t stream) {
    // Outside the lock: a CUDA call. The free-time event is created on the block's device, and
    // an event can only be recorded on a stream of its own device.
    int stream_device = -1;
    FF_CUDA_CHECK(cudaStreamGetDevice(stream, &stream_device));
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = active_.find(const_cast<void*>(ptr));
    FF_CHECK(it != active_.end(), "record_stream: {} is not the start of live CUDA caching-allocator memory", ptr);
    Block* b = it->second;
    FF_CHECK(stream_device == b->device,
             "record_stream: the memory at {} is on cuda:{} but the stream is on cuda:{}; only streams of the "
             "memory's own device can be recorded",
             ptr, b->device, stream_device);
    if (stream == b->stream) return;
    for (cudaStream_t s : b->used_streams) {
      if (s == stream) return;
    }
    b->used_streams.push_back(stream);
  }

  // `stream` is about to be destroyed and its work has finished (Stream::~Stream synchronises
  // first). Its blocks, free or in use, move to their device's compute stream; it is dropped
  // from every block's record_stream list. Otherwise a later allocation would record an event
  // on the dead handle (adopt_idle_segment, free), or a new stream that happens to get the same
  // handle would inherit the blocks.
  void retire_stream(cudaStream_t stream) {
    if (stream == nullptr) return;
    std::lock_guard<std::mutex> lock(mu_);
    const auto retire = [&](Block* b) {
      if (b->stream == stream) b->stream = compute_stream(b->device);
      auto& used = b->used_streams;
      used.erase(std::remove(used.begin(), used.end(), stream), used.end());
    };
    for (const std::unique_ptr<DeviceState>& ds : devices_) {
      if (!ds) continue;
      for (Pool* pool : {&ds->small_pool, &ds->large_pool}) {
        std::vector<Block*> moved;  // re-keyed, so taken out of the ordered pool first
        for (auto it = pool->begin(); it != pool->end();) {
          if ((*it)->stream == stream) {
            moved.push_back(*it);
            it = pool->erase(it);
          } else {
            ++it;
          }
        }
        for (Block* b : moved) {
          retire(b);
          pool->insert(b);
        }
      }
      for (PendingFree& pf : ds->pending) retire(pf.block);
    }
    for (auto& entry : active_) retire(entry.second);
  }

  AllocatorStats stats(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    if (device < 0 || device >= static_cast<int>(devices_.size()) || !devices_[device]) return {};
    AllocatorStats s = devices_[device]->stats;
    s.cached_blocks = static_cast<int64_t>(devices_[device]->small_pool.size() + devices_[device]->large_pool.size());
    return s;
  }

  void reset_peak(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    if (device < 0 || device >= static_cast<int>(devices_.size()) || !devices_[device]) return;
    AllocatorStats& s = devices_[device]->stats;
    s.peak_allocated_bytes = s.allocated_bytes;
    s.peak_reserved_bytes = s.reserved_bytes;
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t d = 0; d < devices_.size(); ++d) {
      if (devices_[d]) release_cached(*devices_[d], static_cast<int>(d));
    }
  }

  bool enabled() {
    std::lock_guard<std::mutex> lock(mu_);
    return enabled_;
  }
  void set_enabled(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    enabled_ = on;
  }

 private:
  DeviceState& state(int device) {
    if (static_cast<int>(devices_.size()) <= device) devices_.resize(device + 1);
    if (!devices_[device]) devices_[device] = std::make_unique<DeviceState>();
    return *devices_[device];
  }

  static bool report_if_error(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return true;
    std::fprintf(stderr, "[faceflow] CUDA caching allocator: %s failed: %s\n", what, cudaGetErrorString(err));
    (void)cudaGetLastError();
    return false;
  }

  cudaError_t acquire_event(DeviceState& ds, cudaEvent_t* ev) {
    if (!ds.spare_events.empty()) {
      *ev = ds.spare_events.back();
      ds.spare_events.pop_back();
      return cudaSuccess;
    }
    return cudaEventCreateWithFlags(ev, cudaEventDisableTiming);
  }
  void release_event(DeviceState& ds, cudaEvent_t* ev) {
    if (*ev) ds.spare_events.push_back(*ev);
    *ev = nullptr;
  }

  // cudaSuccess -> true, cudaErrorNotReady -> false (and clears it), anything else throws.
  static bool event_done(cudaEvent_t ev) {
    const cudaError_t err = cudaEventQuery(ev);
    if (err == cudaSuccess) return true;
    if (err == cudaErrorNotReady) {
      (void)cudaGetLastError();
      return false;
    }
    FF_CUDA_CHECK(err);
    return false;
  }

  // Blocks whose record_stream events have all completed go back to their pools.
  void process_pending(DeviceState& ds) {
    for (size_t i = 0; i < ds.pending.size();) {
      PendingFree& pf = ds.pending[i];
      bool done = true;
      for (cudaEvent_t ev : pf.events) done = done && event_done(ev);
      if (!done) {
        ++i;
        continue;
      }
      for (cudaEvent_t& ev : pf.events) release_event(ds, &ev);
      Block* b = pf.block;
      ds.pending[i] = std::move(ds.pending.back());
      ds.pending.pop_back();
      return_to_pool(ds, b);
    }
  }

  // Marks `b` free, merges it with free neighbours of its segment and pools the result.
  void return_to_pool(DeviceState& ds, Block* b) {
    Pool& pool = b->small ? ds.small_pool : ds.large_pool;
    b->allocated = false;
    for (Block* n : {b->prev, b->next}) {
      if (!n || n->allocated) continue;
      pool.erase(n);
      release_event(ds, &n->reuse_event);
      Block* lo = n == b->prev ? n : b;
      Block* hi = n == b->prev ? b : n;
      lo->size += hi->size;
      lo->next = hi->next;
      if (hi->next) hi->next->prev = lo;
      delete hi;
      b = lo;
    }
    pool.insert(b);
  }

  Block* take_cached(DeviceState& ds, int device, cudaStream_t stream, size_t nbytes) {
    const size_t size = round_size(nbytes);
    const bool small = nbytes <= kSmallRequest;
    Pool& pool = small ? ds.small_pool : ds.large_pool;
    Block* b = best_fit(pool, stream, size);
    if (!b) b = adopt_idle_segment(ds, pool, stream, size);
    if (b) {
      pool.erase(b);
      release_event(ds, &b->reuse_event);
    } else {
      const size_t seg = small ? kSmallSegment : (size < kMidRequest ? kMidSegment : size);
      b = new_segment(ds, device, stream, seg, size, nbytes);
      b->small = small;
    }
    // Split off the tail when it can serve another request of this pool.
    const size_t rest = b->size - size;
    if (rest >= (small ? kSmallRound : kLargeRound)) {
      Block* tail = new Block(*b);
      tail->ptr = b->ptr + size;
      tail->size = rest;
      tail->prev = b;
      tail->reuse_event = nullptr;
      tail->used_streams.clear();
      if (b->next) b->next->prev = tail;
      b->next = tail;
      b->size = size;
      pool.insert(tail);
    }
    return b;
  }

  Block* take_uncached(DeviceState& ds, int device, cudaStream_t stream, size_t nbytes) {
    Block* b = new_segment(ds, device, stream, nbytes, nbytes, nbytes);
    b->cached = false;
    return b;
  }

  static Block* best_fit(Pool& pool, cudaStream_t stream, size_t size) {
    Block key;
    key.stream = stream;
    key.size = size;
    key.ptr = nullptr;
    const auto it = pool.lower_bound(&key);
    if (it == pool.end() || (*it)->stream != stream) return nullptr;
    return *it;
  }

  // A fully free segment cached for another stream whose work on it has finished: the
  // smallest one large enough moves to `stream`. The event is recorded on first inspection
  // (it covers everything queued on the owner stream up to then, a superset of the work that
  // used the memory) and reused by later inspections until the segment is taken.
  Block* adopt_idle_segment(DeviceState& ds, Pool& pool, cudaStream_t stream, size_t size) {
    Block* best = nullptr;
    for (Block* b : pool) {
      if (b->stream == stream || !b->whole_segment() || b->size < size) continue;
      if (best && best->size <= b->size) continue;
      if (!b->reuse_event) {
        DeviceGuard guard(b->device);
        FF_CUDA_CHECK(acquire_event(ds, &b->reuse_event));
        FF_CUDA_CHECK(cudaEventRecord(b->reuse_event, b->stream));
      }
      if (event_done(b->reuse_event)) best = b;
    }
    if (!best) return nullptr;
    pool.erase(best);
    best->stream = stream;
    pool.insert(best);
    return best;
  }

  Block* new_segment(DeviceState& ds, int device, cudaStream_t stream, size_t seg_size, size_t size, size_t nbytes) {
    DeviceGuard guard(device);
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, seg_size);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      ++ds.stats.num_ooms;
      release_cached(ds, device);
      seg_size = std::max(size, nbytes);  // no spare tail this time
      err = cudaMalloc(&p, seg_size);
      if (err == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        (void)cudaMemGetInfo(&free_b, &total_b);
        (void)cudaGetLastError();
        FF_THROW("CUDA out of memory on cuda:{} allocating {} ({} requested): FaceFlow has {} allocated and {} "
                 "reserved; the device has {} free of {}",
                 device, format_bytes(static_cast<int64_t>(seg_size)), nbytes,
                 format_bytes(ds.stats.allocated_bytes), format_bytes(ds.stats.reserved_bytes),
                 format_bytes(static_cast<int64_t>(free_b)), format_bytes(static_cast<int64_t>(total_b)));
      }
    }
    FF_CUDA_CHECK(err);
    AllocatorStats& st = ds.stats;
    st.reserved_bytes += static_cast<int64_t>(seg_size);
    st.peak_reserved_bytes = std::max(st.peak_reserved_bytes, st.reserved_bytes);
    ++st.num_cuda_mallocs;
    Block* b = new Block;
    b->device = device;
    b->stream = stream;
    b->size = seg_size;
    b->ptr = static_cast<char*>(p);
    return b;
  }

  // Frees every fully free segment of one device after waiting for all its work.
  void release_cached(DeviceState& ds, int device) {
    DeviceGuard guard(device);
    FF_CUDA_CHECK(cudaDeviceSynchronize());
    process_pending(ds);
    for (Pool* pool : {&ds.small_pool, &ds.large_pool}) {
      for (auto it = pool->begin(); it != pool->end();) {
        Block* b = *it;
        if (!b->whole_segment()) {
          ++it;
          continue;
        }
        it = pool->erase(it);
        release_event(ds, &b->reuse_event);
        report_if_error(cudaFree(b->ptr), "cudaFree");
        ds.stats.reserved_bytes -= static_cast<int64_t>(b->size);
        ++ds.stats.num_cuda_frees;
        delete b;
      }
    }
  }

  std::mutex mu_;
  std::vector<std::unique_ptr<DeviceState>> devices_;
  std::unordered_map<void*, Block*> active_;
  bool enabled_ = env_caching_enabled();
};

// Never destroyed: tensors held in static storage are freed after main() returns, and the
// CUDA runtime may already be unloading then (cached segments are simply not returned).
CachingAllocator& instance() {
  static CachingAllocator* a = new CachingAllocator();
  return *a;
}

void free_device_ptr(void* ptr) {
  try {
    instance().free(ptr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "[faceflow] CUDA caching allocator: error while freeing %p: %s\n", ptr, e.what());
  }
}

class DeviceAllocatorAdapter final : public Allocator {
 public:
  DataPtr allocate(size_t nbytes, int device_index) override { return cuda_allocate(nbytes, device_index); }
};

}  // namespace

DataPtr cuda_allocate(size_t nbytes, int device) {
  check_device(device, "allocating device memory");
  return instance().allocate(nbytes, device, current_stream(device));
}
DataPtr cuda_allocate(size_t nbytes, int device, cudaStream_t stream) {
  return instance().allocate(nbytes, device, stream);
}

void retire_stream(cudaStream_t stream) { instance().retire_stream(stream); }

void record_stream(const void* ptr, cudaStream_t stream) {
  if (ptr) instance().record_stream(ptr, stream);
}
void record_stream(const Tensor& t, cudaStream_t stream) {
  check_defined(t, "record_stream", "t");
  FF_CHECK(t.device().is_cuda(), "record_stream: {} is not a CUDA tensor", t.describe());
  record_stream(t.storage()->data(), stream);
}

AllocatorStats allocator_stats(int device) { return instance().stats(device); }
void reset_peak_stats(int device) { instance().reset_peak(device); }
void empty_cache() { instance().empty_cache(); }
bool caching_enabled() { return instance().enabled(); }
void set_caching_enabled(bool on) { instance().set_enabled(on); }

Allocator& device_allocator() {
  static DeviceAllocatorAdapter* a = new DeviceAllocatorAdapter();
  return *a;
}

}  // namespace ff::cuda
