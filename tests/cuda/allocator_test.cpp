// The caching allocator and the pinned host allocator on a real device: reuse, rounding,
// statistics, caching off, stream-aware reuse, record_stream, out-of-memory, empty_cache.
#include <gtest/gtest.h>

#ifdef FF_WITH_CUDA

#include <atomic>
#include <thread>
#include <vector>

#include "cuda_test_util.h"
#include "framework/cuda/caching_allocator.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/cuda/debug.h"
#include "framework/cuda/pinned_allocator.h"

namespace ff {
namespace {

using cuda::allocator_stats;
using cuda::cuda_allocate;

constexpr size_t kMiB = size_t{1} << 20;

// Restores the caching switch after a test that changes it.
struct CachingGuard {
  bool saved = cuda::caching_enabled();
  ~CachingGuard() { cuda::set_caching_enabled(saved); }
};

TEST(CudaAllocator, ReusesFreedBlocksOnTheSameStream) {
  FF_SKIP_WITHOUT_CUDA();
  CachingGuard guard;
  cuda::set_caching_enabled(true);
  void* first = nullptr;
  {
    DataPtr p = cuda_allocate(1000, 0);
    ASSERT_NE(p.get(), nullptr);
    first = p.get();
  }
  const int64_t mallocs = allocator_stats(0).num_cuda_mallocs;
  DataPtr q = cuda_allocate(1000, 0);
  EXPECT_EQ(q.get(), first);
  EXPECT_EQ(allocator_stats(0).num_cuda_mallocs, mallocs) << "a cached block must not need cudaMalloc";
}

TEST(CudaAllocator, RoundsSizesAndCountsStats) {
  FF_SKIP_WITHOUT_CUDA();
  CachingGuard guard;
  cuda::set_caching_enabled(true);
  const cuda::AllocatorStats s0 = allocator_stats(0);
  struct Case {
    size_t request, rounded;
  };
  const Case cases[] = {{1, 512}, {512, 512}, {513, 1024}, {kMiB, kMiB}, {kMiB + 1, 2 * kMiB}, {5 * kMiB, 6 * kMiB}};
  for (const Case& c : cases) {
    DataPtr p = cuda_allocate(c.request, 0);
    const cuda::AllocatorStats s = allocator_stats(0);
    EXPECT_EQ(s.allocated_bytes - s0.allocated_bytes, static_cast<int64_t>(c.rounded)) << c.request;
    EXPECT_EQ(s.requested_bytes - s0.requested_bytes, static_cast<int64_t>(c.request)) << c.request;
    EXPECT_EQ(s.active_blocks - s0.active_blocks, 1);
    EXPECT_GE(s.reserved_bytes, s.allocated_bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p.get()) % 512, 0u) << "blocks are 512-byte aligned";
  }
  const cuda::AllocatorStats s1 = allocator_stats(0);
  EXPECT_EQ(s1.allocated_bytes, s0.allocated_bytes);
  EXPECT_EQ(s1.num_allocs - s0.num_allocs, 6);
  EXPECT_EQ(s1.num_frees - s0.num_frees, 6);
  EXPECT_EQ(cuda_allocate(0, 0).get(), nullptr);
  EXPECT_EQ(allocator_stats(0).num_allocs, s1.num_allocs) << "zero-byte allocations are not counted";
}

TEST(CudaAllocator, SmallBlocksShareOneSegment) {
  FF_SKIP_WITHOUT_CUDA();
  CachingGuard guard;
  cuda::set_caching_enabled(true);
  cuda::empty_cache();
  const int64_t mallocs = allocator_stats(0).num_cuda_mallocs;
  std::vector<DataPtr> blocks;
  for (int i = 0; i < 64; ++i) blocks.push_back(cuda_allocate(4096, 0));  // 256 KiB in all
  EXPECT_LE(allocator_stats(0).num_cuda_mallocs - mallocs, 1) << "64 small blocks fit one 2 MiB segment";
  for (size_t i = 1; i < blocks.size(); ++i) EXPECT_NE(blocks[i].get(), blocks[i - 1].get());
}

TEST(CudaAllocator, PeakStatsAndReset) {
  FF_SKIP_WITHOUT_CUDA();
  CachingGuard guard;
  cuda::set_caching_enabled(true);
  const int64_t base = allocator_stats(0).allocated_bytes;
  {
    DataPtr a = cuda_allocate(3 * kMiB, 0);  // rounds to 4 MiB
    DataPtr b = cuda_allocate(1000, 0);      // 1 KiB
  }
  const cuda::AllocatorStats s = allocator_stats(0);
  EXPECT_GE(s.peak_allocated_bytes, base + static_cast<int64_t>(4 * kMiB + 1024));
  EXPECT_GE(s.peak_reserved_bytes, s.reserved_bytes);
  cuda::reset_peak_stats(0);
  const cuda::AllocatorStats r = allocator_stats(0);
  EXPECT_EQ(r.peak_allocated_bytes, r.allocated_bytes);
  EXPECT_EQ(r.peak_reserved_bytes, r.reserved_bytes);
}

TEST(CudaAllocator, CachingOffCallsTheDriverEveryTime) {
  FF_SKIP_WITHOUT_CUDA();
  CachingGuard guard;
  cuda::set_caching_enabled(false);
  const cuda::AllocatorStats s0 = allocator_stats(0);
  for (int i = 0; i < 3; ++i) {
    DataPtr p = cuda_allocate(1000, 0);
    ASSERT_NE(p.get(), nullptr);
    EXPECT_EQ(allocator_stats(0).allocated_bytes - s0.allocated_bytes, 1000) << "no rounding without caching";
  }
  const cuda::AllocatorStats s1 = allocator_stats(0);
  EXPECT_EQ(s1.num_cuda_mallocs - s0.num_cuda_mallocs, 3);
  EXPECT_EQ(s1.num_cuda_frees - s0.num_cuda_frees, 3);
  EXPECT_EQ(s1.reserved_bytes, s0.reserved_bytes);
  // A block allocated with caching on and freed after switching it off goes back to the pool.
  cuda::set_caching_enabled(true);
  DataPtr cached = cuda_allocate(1000, 0);
  cuda::set_caching_enabled(false);
  cached.reset();
  EXPECT_EQ(allocator_stats(0).allocated_bytes, s0.allocated_bytes);
}

// Stream-aware reuse: a block freed on s1 is reused on s1 at once, but s2 gets it only after
// s1's queued work has finished. Sizes >= 10 MiB get a segment of their own size, so the whole
// segment is free after one free.
TEST(CudaAllocator, CrossStreamReuseWaitsForTheOwningStream) {
  FF_SKIP_WITHOUT_CUDA();
  CachingGuard guard;
  cuda::set_caching_enabled(true);
  cuda::empty_cache();
  cuda::Stream s1(0), s2(0);
  const size_t n = 12 * kMiB;
  cuda::busy_wait_on_stream(s1.get(), 500.0);  // s1 stays busy for half a second
  DataPtr p1 = cuda_allocate(n, 0, s1.get());
  void* first = p1.get();
  p1.reset();  // freed on s1 while s1 is still busy
  DataPtr p2 = cuda_allocate(n, 0, s2.get());
  EXPECT_NE(p2.get(), first) << "s2 must not get memory that s1's pending work may still use";
  DataPtr p3 = cuda_allocate(n, 0, s1.get());
  EXPECT_EQ(p3.get(), first) << "the owning stream reuses its block immediately";
  p3.reset();
  s1.synchronize();
  const int64_t mallocs = allocator_stats(0).num_cuda_mallocs;
  DataPtr p4 = cuda_allocate(n, 0, s2.get());  // s2's own block (p2) is still in use
  EXPECT_EQ(p4.get(), first) << "once s1 is idle its free segment moves to s2";
  EXPECT_EQ(allocator_stats(0).num_cuda_mallocs, mallocs);
  s2.synchronize();
}

TEST(CudaAllocator, RecordStreamDelaysReuse) {
  FF_SKIP_WITHOUT_CUDA();
  CachingGuard guard;
  cuda::set_caching_enabled(true);
  cuda::Stream s1(0), s2(0);
  const size_t n = 12 * kMiB;
  DataPtr p1 = cuda_allocate(n, 0, s1.get());
  void* first = p1.get();
  cuda::busy_wait_on_stream(s2.get(), 500.0);  // "work on s2 that uses p1"
  cuda::record_stream(first, s2.get());
  p1.reset();
  DataPtr p2 = cuda_allocate(n, 0, s1.get());
  EXPECT_NE(p2.get(), first) << "the block is still in use by s2";
  s2.synchronize();
  DataPtr p3 = cuda_allocate(n, 0, s1.get());
  EXPECT_EQ(p3.get(), first) << "reusable once s2's work has finished";
  EXPECT_THROW(cuda::record_stream(static_cast<char*>(p3.get()) + 1, s2.get()), Error);
}

// A destroyed stream's blocks pass to the compute stream: reused there without a new
// cudaMalloc, and no later allocation records an event on the dead handle (which would be an
// invalid-resource error or worse). Blocks still in use when the stream dies, and record_stream
// lists naming it, are handed on too.
TEST(CudaAllocator, DestroyedStreamsHandTheirBlocksToTheComputeStream) {
  FF_SKIP_WITHOUT_CUDA();
  CachingGuard guard;
  cuda::set_caching_enabled(true);
  cuda::empty_cache();
  const size_t n = 14 * kMiB;
  void* freed_before = nullptr;
  DataPtr in_use(nullptr, [](void*) {});
  DataPtr other_stream_user = cuda_allocate(n, 0);
  {
    cuda::Stream temporary(0);
    DataPtr p = cuda_allocate(n, 0, temporary.get());
    freed_before = p.get();
    in_use = cuda_allocate(n, 0, temporary.get());
    cuda::record_stream(other_stream_user.get(), temporary.get());
    cuda::busy_wait_on_stream(temporary.get(), 100.0);
  }  // p freed, then the stream synchronised and destroyed
  const int64_t mallocs = allocator_stats(0).num_cuda_mallocs;
  DataPtr reused = cuda_allocate(n, 0, cuda::compute_stream(0));
  EXPECT_EQ(reused.get(), freed_before) << "the dead stream's free block goes to the compute stream";
  EXPECT_EQ(allocator_stats(0).num_cuda_mallocs, mallocs);
  void* was_in_use = in_use.get();
  void* other = other_stream_user.get();
  in_use.reset();             // freed after its stream died: straight to the compute stream's pool
  other_stream_user.reset();  // its record_stream entry for the dead stream is gone: no event on it
  DataPtr again = cuda_allocate(n, 0, cuda::compute_stream(0));
  DataPtr and_again = cuda_allocate(n, 0, cuda::compute_stream(0));
  EXPECT_TRUE((again.get() == was_in_use && and_again.get() == other) ||
              (again.get() == other && and_again.get() == was_in_use))
      << "both freed blocks are reusable on the compute stream at once";
  EXPECT_EQ(allocator_stats(0).num_cuda_mallocs, mallocs);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  cuda::Stream fresh(0);  // a later stream, possibly with the same handle, inherits nothing odd
  DataPtr on_fresh = cuda_allocate(n, 0, fresh.get());
  EXPECT_NE(on_fresh.get(), nullptr);
  fresh.synchronize();
}

TEST(CudaAllocator, OutOfMemoryIsAnErrorAndRecoverable) {
  FF_SKIP_WITHOUT_CUDA();
  const int64_t ooms = allocator_stats(0).num_ooms;
  try {
    cuda_allocate(size_t{1} << 50, 0);  // 1 PiB
    ADD_FAILURE() << "expected an out-of-memory error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("out of memory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cuda:0"), std::string::npos) << msg;
  }
  EXPECT_GT(allocator_stats(0).num_ooms, ooms);
  DataPtr ok = cuda_allocate(1000, 0);  // still usable, and no error left pending
  EXPECT_NE(ok.get(), nullptr);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(CudaAllocator, EmptyCacheReleasesFreeSegments) {
  FF_SKIP_WITHOUT_CUDA();
  CachingGuard guard;
  cuda::set_caching_enabled(true);
  { DataPtr p = cuda_allocate(64 * kMiB, 0); }  // a segment of its own, now entirely free
  const int64_t before = allocator_stats(0).reserved_bytes;
  EXPECT_GE(before, static_cast<int64_t>(64 * kMiB));
  cuda::empty_cache();
  const cuda::AllocatorStats s = allocator_stats(0);
  EXPECT_LE(s.reserved_bytes, before - static_cast<int64_t>(64 * kMiB));
  EXPECT_GE(s.reserved_bytes, s.allocated_bytes);
}

TEST(CudaAllocator, TensorsUseTheAllocator) {
  FF_SKIP_WITHOUT_CUDA();
  const int64_t before = allocator_stats(0).allocated_bytes;
  {
    Tensor t = Tensor::empty({256, 256}, DType::Float32, cuda_test::gpu());
    EXPECT_EQ(allocator_stats(0).allocated_bytes - before, 256 * 256 * 4);
  }
  EXPECT_EQ(allocator_stats(0).allocated_bytes, before);
}

TEST(CudaAllocator, ConcurrentThreads) {
  FF_SKIP_WITHOUT_CUDA();
  const int64_t before = allocator_stats(0).allocated_bytes;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &failures] {
      try {
        for (int i = 0; i < 500; ++i) {
          DataPtr a = cuda_allocate(static_cast<size_t>(512 * (1 + (i + t) % 7)), 0);
          DataPtr b = cuda_allocate(static_cast<size_t>(kMiB + 4096 * (i % 3)), 0);
          if (!a || !b || a.get() == b.get()) ++failures;
        }
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(allocator_stats(0).allocated_bytes, before);
}

TEST(PinnedAllocator, CachesAndCopies) {
  FF_SKIP_WITHOUT_CUDA();
  const cuda::PinnedStats s0 = cuda::pinned_stats();
  void* first = nullptr;
  {
    DataPtr p = cuda::pinned_allocate(10000);
    ASSERT_TRUE(cuda::is_pinned(p.get()));
    EXPECT_TRUE(cuda::is_pinned(static_cast<char*>(p.get()) + 9999)) << "interior pointers are recognised";
    first = p.get();
  }
  {
    DataPtr p = cuda::pinned_allocate(9000);  // same 16 KiB size class
    EXPECT_EQ(p.get(), first);
  }
  // Round trip through a device buffer with an asynchronous copy from pinned memory.
  const size_t n = 1 << 16;
  DataPtr host = cuda::pinned_allocate(n * sizeof(float));
  auto* h = static_cast<float*>(host.get());
  for (size_t i = 0; i < n; ++i) h[i] = static_cast<float>(i) * 0.5f;
  Tensor dev = Tensor::empty({static_cast<int64_t>(n)}, DType::Float32, cuda_test::gpu());
  cuda::copy_pinned_to_device_async(dev.raw_data(), host.get(), n * sizeof(float), 0);
  host.reset();  // allowed: the block is not reused before the copy has finished
  DataPtr other = cuda::pinned_allocate(n * sizeof(float));  // must not be the in-flight block unless done
  const std::vector<float> back = to_vector<float>(dev);
  for (size_t i = 0; i < n; i += 997) ASSERT_EQ(back[i], static_cast<float>(i) * 0.5f) << i;
  const cuda::PinnedStats s1 = cuda::pinned_stats();
  EXPECT_GE(s1.peak_allocated_bytes, s0.allocated_bytes + static_cast<int64_t>(n * sizeof(float)));
  EXPECT_EQ(s1.num_fallbacks, s0.num_fallbacks);
  cuda::pinned_empty_cache();
}

TEST(CudaRuntime, StreamsEventsAndHandles) {
  FF_SKIP_WITHOUT_CUDA();
  EXPECT_EQ(cuda::current_stream(), cuda::compute_stream(0));
  cuda::Stream side(0);
  {
    cuda::StreamGuard g(side.get());
    EXPECT_EQ(cuda::current_stream(), side.get());
  }
  EXPECT_EQ(cuda::current_stream(), cuda::compute_stream(0));
  cuda::Event start(true), stop(true);
  start.record();
  cuda::busy_wait_on_stream(cuda::current_stream(), 5.0);
  stop.record();
  stop.synchronize();
  EXPECT_TRUE(stop.query());
  EXPECT_GE(start.elapsed_ms(stop), 4.0f) << "the 5 ms busy wait lies between the two events";
  EXPECT_NE(cuda::cublas_handle(), nullptr);
  EXPECT_NE(cuda::cublaslt_handle(), nullptr);
  EXPECT_NE(cuda::cudnn_handle(), nullptr);
  EXPECT_NE(cuda::cublaslt_workspace().data, nullptr);
  EXPECT_EQ(cuda::cublaslt_workspace().bytes, cuda::kCublasWorkspaceBytes);
  EXPECT_GT(cuda::multiprocessor_count(0), 0);
  cuda::set_device(0);
  EXPECT_EQ(cuda::current_device(), 0);
}

}  // namespace
}  // namespace ff

#endif  // FF_WITH_CUDA
