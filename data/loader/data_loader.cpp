#include "data/loader/data_loader.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "framework/common/check.h"

namespace ff::data {

// One epoch in flight: its indices, the claim/deliver counters and the reorder buffer.
struct DataLoader::EpochRun {
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };

  int64_t epoch = 0;
  std::vector<int64_t> indices;  // this rank's records, in visiting order
  int64_t num_batches = 0;

  std::mutex mutex;
  std::condition_variable can_claim;  // workers wait here for room in the prefetch window
  std::condition_variable ready;      // the consumer waits here for its next batch
  int64_t next_to_claim = 0;
  int64_t next_to_deliver = 0;
  std::map<int64_t, Slot> done;  // finished batches (or their errors) not yet delivered
  bool stopping = false;
  std::exception_ptr failure;  // set once an error has been delivered: the run is dead
  std::vector<std::thread> workers;
};

DataLoader::DataLoader(std::shared_ptr<const RecordSource> source, LoaderOptions options)
    : options_(std::move(options)), sampler_(source ? source->size() : 0, options_.sampler) {
  FF_CHECK(source != nullptr, "DataLoader: no record source");
  FF_CHECK(options_.batch_size >= 1, "DataLoader: batch_size must be >= 1, got {}", options_.batch_size);
  FF_CHECK(options_.num_workers >= 0, "DataLoader: num_workers must be >= 0, got {}", options_.num_workers);
  FF_CHECK(options_.prefetch_batches >= 1, "DataLoader: prefetch_batches must be >= 1, got {}",
           options_.prefetch_batches);
  options_.assembler.seed = options_.sampler.seed;
  if (!options_.transfer) options_.transfer = std::make_shared<SynchronousTransfer>();
  assembler_ = std::make_shared<BatchAssembler>(std::move(source), options_.assembler);
}

DataLoader::~DataLoader() { stop(); }

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = sampler_.num_samples();
  return options_.drop_last ? n / options_.batch_size : (n + options_.batch_size - 1) / options_.batch_size;
}

void DataLoader::stop() {
  if (!run_) return;
  {
    std::lock_guard<std::mutex> lock(run_->mutex);
    run_->stopping = true;
  }
  run_->can_claim.notify_all();
  run_->ready.notify_all();
  // A worker finishes the batch it is building (bounded work) and then sees `stopping`.
  for (std::thread& t : run_->workers) t.join();
  run_.reset();
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  stop();
  FF_CHECK(epoch >= 0, "DataLoader::start_epoch: negative epoch {}", epoch);
  FF_CHECK(first_batch >= 0 && first_batch <= batches_per_epoch(),
           "DataLoader::start_epoch: first batch {} of epoch {} is outside [0, {}] (batches per epoch)", first_batch,
           epoch, batches_per_epoch());
  run_ = std::make_unique<EpochRun>();
  run_->epoch = epoch;
  run_->indices = sampler_.indices(epoch);
  run_->num_batches = batches_per_epoch();
  // Skipping is only moving both counters: workers claim from first_batch on, next() delivers from it.
  run_->next_to_claim = first_batch;
  run_->next_to_deliver = first_batch;
  for (int i = 0; i < options_.num_workers; ++i) {
    run_->workers.emplace_back([this, run = run_.get()] { worker_loop(*run); });
  }
}

void DataLoader::worker_loop(EpochRun& run) {
  const int64_t window = options_.prefetch_batches;
  for (;;) {
    int64_t b = 0;
    {
      std::unique_lock<std::mutex> lock(run.mutex);
      run.can_claim.wait(lock, [&] {
        return run.stopping || run.next_to_claim >= run.num_batches || run.next_to_claim < run.next_to_deliver + window;
      });
      if (run.stopping || run.next_to_claim >= run.num_batches) return;
      b = run.next_to_claim++;
    }
    EpochRun::Slot slot;
    try {
      const int64_t begin = b * options_.batch_size;
      const int64_t end = std::min(begin + options_.batch_size, static_cast<int64_t>(run.indices.size()));
      const std::vector<int64_t> records(run.indices.begin() + begin, run.indices.begin() + end);
      slot.batch = assembler_->assemble(records, run.epoch, b);
      options_.transfer->start(slot.batch);
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(run.mutex);
      run.done.emplace(b, std::move(slot));
    }
    run.ready.notify_all();
  }
}

bool DataLoader::next(Batch& batch) {
  FF_CHECK(run_ != nullptr, "DataLoader::next: call start_epoch(epoch) first");
  EpochRun& run = *run_;
  EpochRun::Slot slot;
  {
    std::unique_lock<std::mutex> lock(run.mutex);
    if (run.failure) std::rethrow_exception(run.failure);
    if (run.next_to_deliver >= run.num_batches) return false;
    const int64_t b = run.next_to_deliver;
    if (run.workers.empty()) {
      // num_workers == 0: build the batch here, on the consumer thread.
      lock.unlock();
      try {
        const int64_t begin = b * options_.batch_size;
        const int64_t end = std::min(begin + options_.batch_size, static_cast<int64_t>(run.indices.size()));
        slot.batch = assembler_->assemble({run.indices.begin() + begin, run.indices.begin() + end}, run.epoch, b);
        options_.transfer->start(slot.batch);
      } catch (...) {
        slot.error = std::current_exception();
      }
      lock.lock();
    } else {
      run.ready.wait(lock, [&] { return run.done.count(b) > 0; });
      auto it = run.done.find(b);
      slot = std::move(it->second);
      run.done.erase(it);
    }
    ++run.next_to_deliver;
  }
  run.can_claim.notify_all();
  if (!slot.error) {
    try {
      options_.transfer->finish(slot.batch);
    } catch (...) {
      slot.error = std::current_exception();
    }
  }
  if (slot.error) {
    // The run is dead: next() rethrows until start_epoch(), and the workers park now, since
    // nothing after a failed batch will be delivered this epoch.
    {
      std::lock_guard<std::mutex> lock(run.mutex);
      run.failure = slot.error;
      run.stopping = true;
    }
    run.can_claim.notify_all();
    std::rethrow_exception(slot.error);
  }
  batch = std::move(slot.batch);
  return true;
}

}  // namespace ff::data
