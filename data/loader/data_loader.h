// The training data loader: sharded sampling, N decoding worker threads, a bounded prefetch
// window, in-order delivery.
//
//   DataLoader loader(source, options);
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     Batch batch;
//     while (loader.next(batch)) train_step(batch.images, batch.labels);
//   }
//
// Work is split by batch: a worker claims batch b, builds all of it (BatchAssembler) and parks
// it in a reorder buffer; next() hands batches out strictly in order 0, 1, 2, ... Workers may run
// at most `prefetch_batches` ahead of the consumer (bounded memory). Every batch's content is a
// function of (seed, epoch, b) only, so the output is identical for any num_workers (0 means
// "decode on the consumer thread", useful for debugging).
//
// Errors: a worker's exception (bad JPEG in Throw mode, a read error) is stored with its batch
// and rethrown by next() when the consumer reaches that batch, as an ff::Error naming the epoch,
// batch and record; the loader then stays failed (next() rethrows) until start_epoch(). The
// destructor, stop() and start_epoch() stop and join the workers: no hang when the consumer
// stops early or a worker has failed.
//
// The DataLoader object itself belongs to one consumer thread (start_epoch/next/stop are not
// meant to be called concurrently); the source must allow concurrent get().
#pragma once

#include <cstdint>
#include <memory>

#include "data/loader/batch.h"
#include "data/loader/batch_assembler.h"
#include "data/loader/record_source.h"
#include "data/loader/sampler.h"

namespace ff::data {

struct LoaderOptions {
  int64_t batch_size = 128;  // per rank
  int num_workers = 2;       // arcface_torch: num_workers=2
  int prefetch_batches = 6;  // arcface_torch's DataLoaderX queue size
  bool drop_last = true;     // drop the final incomplete batch of an epoch (arcface_torch)
  SamplerOptions sampler;    // world size, rank, seed (also keys augmentation), shuffle, shard policy
  AssemblerOptions assembler;  // image size, dtype, augmentation, bad-record policy, allocator;
                               // its seed is overwritten by sampler.seed
  std::shared_ptr<BatchTransfer> transfer;  // null: batches stay on the CPU
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const RecordSource> source, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts producing `epoch` (its own shuffle) at batch `first_batch` (0 <= first_batch <=
  // batches_per_epoch()): batches 0 .. first_batch-1 are skipped without being read or decoded,
  // and the rest are exactly those an uninterrupted epoch would deliver (same content, same
  // Batch::index), since every batch is a function of (seed, epoch, b). A resumed training run
  // uses this to continue mid-epoch. Abandons an unfinished epoch.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the current epoch; false once the epoch is exhausted.
  bool next(Batch& batch);
  // Abandons the current epoch and joins the workers (also done by the destructor).
  void stop();

  int64_t batches_per_epoch() const;
  int64_t samples_per_epoch() const { return sampler_.num_samples(); }
  const ShardedSampler& sampler() const { return sampler_; }
  const BadRecordLog& bad_records() const { return assembler_->bad_records(); }
  int64_t resized_images() const { return assembler_->resized_images(); }
  const LoaderOptions& options() const { return options_; }

 private:
  struct EpochRun;
  void worker_loop(EpochRun& run);

  LoaderOptions options_;
  ShardedSampler sampler_;
  std::shared_ptr<BatchAssembler> assembler_;
  std::unique_ptr<EpochRun> run_;
};

}  // namespace ff::data
