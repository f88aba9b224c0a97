// The DataLoader: batch layout and normalisation, augmentation, determinism for any worker
// count, sharding, fp16, drop_last, hooks, and clean shutdown on early stop and on errors.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>

#include "data/decode/jpeg.h"
#include "data/loader/data_loader.h"
#include "framework/common/check.h"
#include "tests/common/test_assertions.h"
#include "tests/data_loader/loader_test_util.h"

namespace ff::data {
namespace {

using testing::face_records;
using testing::load_epoch;
using testing::same_bytes;
using testing::TestSource;

std::shared_ptr<TestSource> make_source(int64_t n, int odd_size_every = 0) {
  static std::map<std::pair<int64_t, int>, std::vector<FaceExample>> cache;  // encoding is the slow part
  auto& records = cache[{n, odd_size_every}];
  if (records.empty()) records = face_records(n, odd_size_every);
  return std::make_shared<TestSource>(records);
}

LoaderOptions options(int64_t batch, int workers, uint64_t seed = 5) {
  LoaderOptions o;
  o.batch_size = batch;
  o.num_workers = workers;
  o.sampler.seed = seed;
  return o;
}

void expect_same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].index, static_cast<int64_t>(i));
    EXPECT_EQ(a[i].record_indices, b[i].record_indices) << "batch " << i;
    EXPECT_TRUE(same_bytes(a[i].images, b[i].images)) << "batch " << i;
    EXPECT_TRUE(same_bytes(a[i].labels, b[i].labels)) << "batch " << i;
  }
}

TEST(DataLoader, BatchLayoutAndNormalisation) {
  auto source = make_source(12);
  LoaderOptions o = options(4, 2);
  o.sampler.shuffle = false;
  o.assembler.augment.random_flip = false;
  DataLoader loader(source, o);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  const auto batches = load_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 3u);
  for (const Batch& b : batches) {
    ASSERT_EQ(b.images.sizes(), (Shape{4, 3, 112, 112}));
    ASSERT_EQ(b.images.dtype(), DType::Float32);
    ASSERT_EQ(b.labels.sizes(), (Shape{4}));
    ASSERT_EQ(b.labels.dtype(), DType::Int64);
    for (int64_t j = 0; j < 4; ++j) {
      const int64_t record = b.index * 4 + j;  // no shuffle: records in order
      ASSERT_EQ(b.record_indices[j], record);
      const FaceExample e = source->get(record);
      EXPECT_EQ(b.labels.data<int64_t>()[j], e.label);
      const RgbImage img = decode_jpeg(e.encoded_jpeg, "expected");
      const float* row = b.images.data<float>() + j * 3 * 112 * 112;
      for (int c = 0; c < 3; ++c) {
        for (int y = 0; y < 112; y += 13) {
          for (int x = 0; x < 112; x += 7) {
            const float expected = (img.pixel(y, x)[c] - 127.5f) / 127.5f;
            ASSERT_FLOAT_EQ(row[(c * 112 + y) * 112 + x], expected) << "c" << c << " y" << y << " x" << x;
          }
        }
      }
    }
  }
  const float* all = batches[0].images.data<float>();
  const auto [lo, hi] = std::minmax_element(all, all + batches[0].images.numel());
  EXPECT_GE(*lo, -1.0f);
  EXPECT_LE(*hi, 1.0f);
}

TEST(DataLoader, FlipsAboutHalfTheSamplesAsDecided) {
  auto source = make_source(40);
  LoaderOptions o = options(8, 2);
  o.sampler.shuffle = false;
  DataLoader loader(source, o);
  LoaderOptions plain = o;
  plain.assembler.augment.random_flip = false;
  DataLoader unflipped(source, plain);
  const auto a = load_epoch(loader, 3), b = load_epoch(unflipped, 3);
  int flips = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    for (int64_t j = 0; j < 8; ++j) {
      const bool flip = decide_augmentation(o.assembler.augment, o.sampler.seed, 3, a[i].record_indices[j]).flip;
      flips += flip;
      const float* got = a[i].images.data<float>() + j * 3 * 112 * 112;
      const float* ref = b[i].images.data<float>() + j * 3 * 112 * 112;
      for (int p = 0; p < 3 * 112; ++p) {  // every row of every channel
        for (int x = 0; x < 112; ++x) {
          ASSERT_EQ(got[p * 112 + x], ref[p * 112 + (flip ? 111 - x : x)]);
        }
      }
    }
  }
  EXPECT_GT(flips, 8);
  EXPECT_LT(flips, 32);
}

TEST(DataLoader, DeterministicForASeedWhateverTheWorkerCount) {
  auto source = make_source(45, 9);
  LoaderOptions o = options(6, 0);
  DataLoader inline_loader(source, o);
  const auto reference = load_epoch(inline_loader, 2);
  ASSERT_EQ(reference.size(), 7u);  // 45 / 6, last partial batch dropped
  for (int workers : {1, 2, 4}) {
    o.num_workers = workers;
    o.prefetch_batches = workers == 4 ? 2 : 6;
    DataLoader loader(source, o);
    SCOPED_TRACE("workers " + std::to_string(workers));
    expect_same_batches(load_epoch(loader, 2), reference);
  }
  // Other epochs and seeds differ.
  DataLoader again(source, options(6, 2));
  const auto epoch3 = load_epoch(again, 3);
  EXPECT_NE(epoch3[0].record_indices, reference[0].record_indices);
  DataLoader other_seed(source, options(6, 2, 6));
  EXPECT_NE(load_epoch(other_seed, 2)[0].record_indices, reference[0].record_indices);
  // Records 8, 17, 26, 35 and 44 are 120x96 (resized); drop_last may have left out a few.
  EXPECT_GE(inline_loader.resized_images(), 2);
  EXPECT_LE(inline_loader.resized_images(), 5);
}

TEST(DataLoader, Float16BatchesMatchFloat32) {
  auto source = make_source(8);
  LoaderOptions o = options(4, 2);
  DataLoader f32(source, o);
  o.assembler.dtype = DType::Float16;
  DataLoader f16(source, o);
  const auto a = load_epoch(f32, 0), b = load_epoch(f16, 0);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(b[i].images.dtype(), DType::Float16);
    ASSERT_EQ(b[i].images.sizes(), a[i].images.sizes());
    const float* x = a[i].images.data<float>();
    const Half* h = b[i].images.data<Half>();
    for (int64_t k = 0; k < a[i].images.numel(); ++k) {
      ASSERT_EQ(static_cast<float>(h[k]), static_cast<float>(Half(x[k])));
    }
  }
}

TEST(DataLoader, RanksGetDisjointShares) {
  auto source = make_source(23);
  std::set<int64_t> seen;
  int64_t total = 0;
  for (int rank = 0; rank < 3; ++rank) {
    LoaderOptions o = options(2, 2);
    o.sampler.world_size = 3;
    o.sampler.rank = rank;
    DataLoader loader(source, o);
    EXPECT_EQ(loader.samples_per_epoch(), 7);
    EXPECT_EQ(loader.batches_per_epoch(), 3);  // 7 samples, batch 2, drop_last
    for (const Batch& b : load_epoch(loader, 1)) {
      for (int64_t r : b.record_indices) {
        EXPECT_TRUE(seen.insert(r).second) << "record " << r << " twice";
        ++total;
      }
    }
  }
  EXPECT_EQ(total, 18);
}

TEST(DataLoader, KeepsTheLastPartialBatchWithoutDropLast) {
  auto source = make_source(10);
  LoaderOptions o = options(4, 2);
  o.drop_last = false;
  DataLoader loader(source, o);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  const auto batches = load_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2].size(), 2);
  EXPECT_EQ(batches[2].images.size(0), 2);
}

TEST(DataLoader, StopsCleanlyWhenTheConsumerStopsEarly) {
  auto source = make_source(64);
  source->delay_ms = 5;
  const auto t0 = std::chrono::steady_clock::now();
  {
    DataLoader loader(source, options(4, 3));
    loader.start_epoch(0);
    Batch b;
    ASSERT_TRUE(loader.next(b));
    loader.start_epoch(1);  // abandon epoch 0 mid-way
    ASSERT_TRUE(loader.next(b));
    EXPECT_EQ(b.epoch, 1);
  }  // destructor joins workers that are mid-batch
  {
    DataLoader never_consumed(source, options(4, 2));
    never_consumed.start_epoch(0);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 10.0);
}

TEST(DataLoader, WorkerErrorIsRethrownWithTheRecord) {
  auto source = make_source(24);
  LoaderOptions o = options(4, 2);
  o.sampler.shuffle = false;
  source->corrupt = {13};  // batch 3 (records 12..15)
  DataLoader loader(source, o);
  loader.start_epoch(0);
  Batch b;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(loader.next(b)) << "batches before the bad one arrive";
  try {
    loader.next(b);
    FAIL() << "expected the bad record to throw";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("test-part record 13"), std::string::npos) << msg;
    EXPECT_NE(msg.find("epoch 0 batch 3"), std::string::npos) << msg;
  }
  EXPECT_THROW(loader.next(b), Error);  // stays failed
  loader.start_epoch(1);                // a new epoch starts fresh (and fails again at record 13)
  ASSERT_TRUE(loader.next(b));
}

TEST(DataLoader, NonFaceFlowExceptionsAreWrappedWithTheRecord) {
  auto source = make_source(8);
  source->throws_std = {2};
  LoaderOptions o = options(4, 1);
  o.sampler.shuffle = false;
  DataLoader loader(source, o);
  loader.start_epoch(0);
  Batch b;
  try {
    loader.next(b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("disk on fire"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("epoch 0 batch 0"), std::string::npos) << e.what();
  }
}

TEST(DataLoader, SkipAndCountReplacesBadRecordsDeterministically) {
  auto source = make_source(24);
  source->corrupt = {1, 2, 17};
  LoaderOptions o = options(4, 0);
  o.assembler.on_bad_record = OnBadRecord::SkipAndCount;
  DataLoader reference_loader(source, o);
  const auto reference = load_epoch(reference_loader, 0);
  EXPECT_EQ(reference_loader.bad_records().count(), 3);
  ASSERT_EQ(reference.size(), 6u);
  int64_t bad_in_batches = 0;
  for (const Batch& b : reference) {
    EXPECT_EQ(b.size(), 4);
    bad_in_batches += b.bad_records;
    for (int64_t r : b.record_indices) EXPECT_FALSE(source->corrupt.count(r)) << "bad record delivered";
  }
  EXPECT_EQ(bad_in_batches, 3);
  EXPECT_NE(reference_loader.bad_records().summary().find("test-part record"), std::string::npos);
  o.num_workers = 3;
  DataLoader threaded(source, o);
  expect_same_batches(load_epoch(threaded, 0), reference);
}

TEST(DataLoader, OneDamagedRecordCostsOneRecordOnThatWorker) {
  // Each worker keeps one JPEG decoder; a damaged record must not break the decoder for the
  // records that follow it on the same thread (it once did: every later record failed).
  auto source = make_source(24);
  source->damaged = {5};
  LoaderOptions o = options(4, 1);
  o.sampler.shuffle = false;
  o.assembler.on_bad_record = OnBadRecord::SkipAndCount;
  DataLoader loader(source, o);
  const auto batches = load_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 6u);
  EXPECT_EQ(loader.bad_records().count(), 1) << loader.bad_records().summary();
  EXPECT_EQ(batches[1].bad_records, 1);
  EXPECT_EQ(batches[1].record_indices, (std::vector<int64_t>{4, 6, 6, 7}));  // row 1 takes the next good one
  EXPECT_NE(loader.bad_records().summary().find("test-part record 5"), std::string::npos);
}

TEST(DataLoader, LabelsOutsideNumClassesAreBadRecordsNamingTheRecord) {
  auto source = make_source(12);
  source->label_override = {{6, 7}, {9, -2}};  // face_records labels are index % 7, so 7 is one too many
  LoaderOptions o = options(4, 1);
  o.sampler.shuffle = false;
  o.assembler.num_classes = 7;
  {
    DataLoader loader(source, o);
    loader.start_epoch(0);
    Batch b;
    ASSERT_TRUE(loader.next(b));  // records 0..3
    EXPECT_FF_ERROR(loader.next(b), "test-part record 6", "label 7 is outside [0, 7)", "epoch 0 batch 1");
  }
  o.assembler.on_bad_record = OnBadRecord::SkipAndCount;
  DataLoader skipping(source, o);
  const auto batches = load_epoch(skipping, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(skipping.bad_records().count(), 2) << skipping.bad_records().summary();
  for (const Batch& b : batches) {
    const int64_t* labels = b.labels.data<int64_t>();
    for (int64_t j = 0; j < b.size(); ++j) EXPECT_TRUE(labels[j] >= 0 && labels[j] < 7) << labels[j];
  }
  const std::string summary = skipping.bad_records().summary();
  EXPECT_NE(summary.find("negative label -2"), std::string::npos) << summary;
}

TEST(DataLoader, AllocatorAndTransferHooksAreUsed) {
  struct CountingAllocator : HostBufferAllocator {
    std::atomic<int> calls{0};
    Tensor allocate(const Shape& shape, DType dtype) override {
      ++calls;
      return Tensor::empty(shape, dtype);
    }
    const char* name() const override { return "counting"; }
  };
  struct CountingTransfer : BatchTransfer {
    std::atomic<int> started{0}, finished{0};
    void start(Batch& b) override {
      ++started;
      b.transfer_state = std::make_shared<int>(7);
    }
    void finish(Batch& b) override {
      ++finished;
      EXPECT_TRUE(b.transfer_state != nullptr);
    }
  };
  auto allocator = std::make_shared<CountingAllocator>();
  auto transfer = std::make_shared<CountingTransfer>();
  LoaderOptions o = options(4, 2);
  o.assembler.allocator = allocator;
  o.transfer = transfer;
  DataLoader loader(make_source(12), o);
  EXPECT_EQ(load_epoch(loader, 0).size(), 3u);
  EXPECT_EQ(allocator->calls.load(), 3);
  EXPECT_EQ(transfer->started.load(), 3);
  EXPECT_EQ(transfer->finished.load(), 3);
}

// A transfer whose finish() fails (e.g. a CUDA error while ordering the copy) fails the run like
// a worker's error: next() keeps rethrowing instead of handing out the batches after it, and
// start_epoch() recovers.
TEST(DataLoader, AFailedFinishFailsTheRunUntilTheNextEpoch) {
  struct FailingTransfer : BatchTransfer {
    std::atomic<int> finished{0};
    void start(Batch&) override {}
    void finish(Batch& b) override {
      ++finished;
      FF_CHECK(b.index != 1, "transfer failed on batch {}", b.index);
    }
  };
  auto transfer = std::make_shared<FailingTransfer>();
  LoaderOptions o = options(4, 2);
  o.transfer = transfer;
  DataLoader loader(make_source(16), o);
  loader.start_epoch(0);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.index, 0);
  EXPECT_FF_ERROR(loader.next(b), "transfer failed on batch 1");
  EXPECT_FF_ERROR(loader.next(b), "transfer failed on batch 1");  // not batch 2: the run is dead
  EXPECT_EQ(transfer->finished.load(), 2);
  loader.start_epoch(1);
  int delivered = 0;
  while (true) {
    try {
      if (!loader.next(b)) break;
      ++delivered;
    } catch (const Error&) {
      break;  // batch 1 of epoch 1 fails again
    }
  }
  EXPECT_EQ(delivered, 1);
}

TEST(DataLoader, RejectsMisuse) {
  auto source = make_source(8);
  DataLoader loader(source, options(4, 1));
  Batch b;
  EXPECT_THROW(loader.next(b), Error);  // no epoch started
  LoaderOptions bad = options(0, 1);
  EXPECT_THROW(DataLoader(source, bad), Error);
  bad = options(4, 1);
  bad.assembler.dtype = DType::Int32;
  EXPECT_THROW(DataLoader(source, bad), Error);
}

}  // namespace
}  // namespace ff::data
