// DataLoader::start_epoch(epoch, first_batch): a resumed training run continues mid-epoch with
// exactly the batches an uninterrupted epoch would have delivered, without reading the skipped ones.
#include <gtest/gtest.h>

#include <atomic>

#include "data/loader/data_loader.h"
#include "framework/common/check.h"
#include "tests/data_loader/loader_test_util.h"

namespace ff::data {
namespace {

using testing::drain;
using testing::same_bytes;

// Counts get() calls, so a test can tell that skipped batches were never read.
class CountingSource final : public RecordSource {
 public:
  explicit CountingSource(std::vector<FaceExample> records) : records_(std::move(records)) {}
  int64_t size() const override { return static_cast<int64_t>(records_.size()); }
  FaceExample get(int64_t index) const override {
    ++reads;
    return records_.at(static_cast<size_t>(index));
  }
  mutable std::atomic<int64_t> reads{0};

 private:
  std::vector<FaceExample> records_;
};

std::shared_ptr<CountingSource> make_source() {
  static const std::vector<FaceExample> records = testing::face_records(40);
  return std::make_shared<CountingSource>(records);
}

LoaderOptions options(int workers) {
  LoaderOptions o;
  o.batch_size = 4;
  o.num_workers = workers;
  o.sampler.seed = 9;
  o.sampler.world_size = 2;
  o.sampler.rank = 1;
  return o;
}

TEST(LoaderResume, StartingAtABatchDeliversTheRestOfTheUninterruptedEpoch) {
  for (int workers : {0, 2}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    auto source = make_source();
    DataLoader full(source, options(workers));
    full.start_epoch(3);
    const std::vector<Batch> reference = drain(full);
    ASSERT_EQ(reference.size(), 5u);  // 40 records / 2 ranks / batch 4

    auto counted = make_source();
    DataLoader resumed(counted, options(workers));
    resumed.start_epoch(3, 2);
    const std::vector<Batch> rest = drain(resumed);
    ASSERT_EQ(rest.size(), 3u);
    for (size_t i = 0; i < rest.size(); ++i) {
      const Batch& expected = reference[i + 2];
      EXPECT_EQ(rest[i].index, expected.index);
      EXPECT_EQ(rest[i].epoch, 3);
      EXPECT_EQ(rest[i].record_indices, expected.record_indices) << "batch " << expected.index;
      EXPECT_TRUE(same_bytes(rest[i].images, expected.images)) << "batch " << expected.index;
      EXPECT_TRUE(same_bytes(rest[i].labels, expected.labels)) << "batch " << expected.index;
    }
    // Only the 3 delivered batches of 4 records were read: the skipped ones cost nothing.
    EXPECT_EQ(counted->reads.load(), 12);
  }
}

TEST(LoaderResume, StartingAtTheEndGivesAnEmptyEpochAndTheNextEpochIsWhole) {
  auto source = make_source();
  DataLoader loader(source, options(1));
  loader.start_epoch(0, loader.batches_per_epoch());
  Batch b;
  EXPECT_FALSE(loader.next(b));
  loader.start_epoch(1);
  EXPECT_EQ(drain(loader).size(), 5u);
}

TEST(LoaderResume, RejectsABatchOutsideTheEpoch) {
  auto source = make_source();
  DataLoader loader(source, options(1));
  EXPECT_THROW(loader.start_epoch(0, -1), Error);
  try {
    loader.start_epoch(2, 6);
    FAIL() << "expected ff::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("first batch 6 of epoch 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ff::data
