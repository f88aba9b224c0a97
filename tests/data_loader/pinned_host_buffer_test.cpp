// Batch memory from another allocator: Tensor::empty(shape, dtype, Allocator&) (adopted
// storage), and PinnedHostBufferAllocator, whose batches must be byte-identical to the default
// allocator's whether it pins (a CUDA device) or falls back to pageable memory (no device, or
// a build without CUDA, as on the build machines).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>

#include "data/loader/data_loader.h"
#include "data/loader/pinned_host_buffer.h"
#include "tests/data_loader/loader_test_util.h"

#ifdef FF_WITH_CUDA
#include "framework/cuda/cuda_runtime.h"
#endif

namespace ff::data {
namespace {

using testing::face_records;
using testing::load_epoch;
using testing::same_bytes;
using testing::TestSource;

// Counts what it hands out and gets back; fills new memory with a marker byte.
class CountingAllocator final : public Allocator {
 public:
  DataPtr allocate(size_t nbytes, int device_index) override {
    last_device_index = device_index;
    void* p = std::malloc(nbytes == 0 ? 1 : nbytes);
    std::memset(p, 0xAB, nbytes);
    ++live;
    return DataPtr(p, [](void* q) {
      std::free(q);
      --live;
    });
  }
  static inline std::atomic<int> live{0};
  int last_device_index = -1;
};

TEST(AdoptedStorage, TensorUsesTheGivenAllocatorAndFreesThroughIt) {
  CountingAllocator alloc;
  const int before = CountingAllocator::live;
  {
    Tensor t = Tensor::empty({2, 3}, DType::Float32, alloc);
    EXPECT_EQ(CountingAllocator::live, before + 1);
    EXPECT_TRUE(t.device().is_cpu());  // tagged with the default device, CPU
    EXPECT_EQ(alloc.last_device_index, 0);
    EXPECT_EQ(t.sizes(), (Shape{2, 3}));
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(t.storage()->nbytes(), 24u);
    EXPECT_EQ(static_cast<uint8_t*>(t.raw_data())[23], 0xAB);  // the allocator's memory, untouched
    // An ordinary CPU tensor from here on: ops work on it and views keep the storage alive.
    t.fill_(2.5);
    Tensor view = t.slice(1, 1, 3);
    t = Tensor();
    EXPECT_EQ(CountingAllocator::live, before + 1);
    EXPECT_EQ(view.contiguous().data<float>()[3], 2.5f);
  }
  EXPECT_EQ(CountingAllocator::live, before);
}

TEST(AdoptedStorage, RejectsBadShapesAndNullBuffers) {
  CountingAllocator alloc;
  EXPECT_THROW(Tensor::empty({2, -1}, DType::Float32, alloc), Error);
  EXPECT_THROW(Storage(DataPtr(nullptr, [](void*) {}), 16, Device()), Error);
  Storage empty(DataPtr(nullptr, [](void*) {}), 0, Device());  // a zero-byte buffer may be null
  EXPECT_EQ(empty.nbytes(), 0u);
}

TEST(PinnedHostBuffer, FallsBackAndSaysSoWithoutADevice) {
  PinnedHostBufferAllocator alloc;
  bool expect_pinned = false;
#ifdef FF_WITH_CUDA
  expect_pinned = ff::cuda::is_available();
#endif
  EXPECT_EQ(alloc.pinned(), expect_pinned);
  const std::string name = alloc.name();
  if (alloc.pinned()) {
    EXPECT_TRUE(alloc.fallback_reason().empty());
    EXPECT_NE(name.find("pinned"), std::string::npos) << name;
  } else {
    EXPECT_FALSE(alloc.fallback_reason().empty());
    EXPECT_NE(name.find("pageable"), std::string::npos) << name;
    EXPECT_NE(name.find(alloc.fallback_reason()), std::string::npos) << name;
  }
  const Tensor t = alloc.allocate({4, 3, 8, 8}, DType::Float16);
  EXPECT_TRUE(t.device().is_cpu());
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.dtype(), DType::Float16);
  EXPECT_EQ(t.sizes(), (Shape{4, 3, 8, 8}));
  EXPECT_EQ(is_pinned_tensor(t), alloc.pinned());
  EXPECT_FALSE(is_pinned_tensor(Tensor::empty({4})));  // ordinary CPU memory is never pinned
}

TEST(PinnedHostBuffer, LoaderBatchesAreIdenticalToTheDefaultAllocators) {
  const auto source = std::make_shared<TestSource>(face_records(24));
  for (DType dtype : {DType::Float32, DType::Float16}) {
    SCOPED_TRACE(dtype_name(dtype));
    auto make = [&](std::shared_ptr<HostBufferAllocator> allocator) {
      LoaderOptions o;
      o.batch_size = 5;
      o.num_workers = 2;
      o.prefetch_batches = 3;
      o.sampler.seed = 17;
      o.assembler.dtype = dtype;
      o.assembler.allocator = std::move(allocator);
      return std::make_unique<DataLoader>(source, o);
    };
    auto pinned_alloc = std::make_shared<PinnedHostBufferAllocator>();
    auto reference = make(nullptr);
    auto pinned = make(pinned_alloc);
    for (int64_t epoch = 0; epoch < 2; ++epoch) {
      const auto a = load_epoch(*reference, epoch);
      const auto b = load_epoch(*pinned, epoch);
      ASSERT_EQ(a.size(), 4u);
      ASSERT_EQ(b.size(), a.size());
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(b[i].record_indices, a[i].record_indices) << "batch " << i;
        EXPECT_TRUE(same_bytes(b[i].images, a[i].images)) << "epoch " << epoch << " batch " << i;
        EXPECT_TRUE(same_bytes(b[i].labels, a[i].labels)) << "epoch " << epoch << " batch " << i;
        EXPECT_EQ(is_pinned_tensor(b[i].images), pinned_alloc->pinned()) << "batch " << i;
        EXPECT_FALSE(is_pinned_tensor(a[i].images));
      }
    }
  }
}

}  // namespace
}  // namespace ff::data
