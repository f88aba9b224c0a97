// Private to the trainer's .cpp files: the state of one training run (trainer.h has the contract).
//   trainer.cpp        construction (data, model, optimizers) and the run loop
//   trainer_step.cpp   one optimizer step, fp16 skipping, the non-finite stop
//   trainer_state.cpp  checkpoint save / resume (re-sharding), model export, verification
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/train_log.h"
#include "apps/common/trainer.h"
#include "apps/common/trainer_data.h"
#include "apps/common/trainer_precision.h"
#include "apps/common/verification_eval.h"
#include "data/loader/data_loader.h"
#include "framework/amp/grad_scaler.h"
#include "framework/distributed/data_parallel.h"
#include "framework/optim/lr_scheduler.h"
#include "framework/optim/optimizer.h"
#include "models/backbone.h"
#include "models/heads/partial_fc.h"
#include "ops/tensor_ops/random.h"

namespace ff::apps {

struct Trainer::Impl {
  Impl(TrainConfig config, distributed::Communicator& comm, TrainerOptions options);

  // ---- trainer.cpp
  TrainSummary run();

  // ---- trainer_step.cpp
  struct StepOutcome {
    double loss = 0;
    double grad_norm = 0;
    bool skipped = false;  // fp16: non-finite, not applied
  };
  StepOutcome train_step();
  [[noreturn]] void stop_non_finite(double loss, double grad_norm, bool fc_grad_finite);

  // ---- trainer_state.cpp
  std::string save_checkpoint();
  void resume_from(const std::string& dir);
  void export_model();
  void load_validation_targets();
  void run_verification();
  // Collective (data.skip_bad_records only): sums the ranks' skipped-record counts into
  // summary.bad_records and logs them when there are any (and "none" when `final`); `when`
  // names the moment in the log line.
  void report_bad_records(const std::string& when, bool final);
  int64_t bad_records_logged = 0;        // the all-rank count of the last report
  int64_t local_bad_records_logged = 0;  // this rank's count when it last printed its messages

  TrainConfig cfg;
  // Multi-GPU runs: NCCL for CUDA tensors, the given communicator (MPI) for CPU ones; null otherwise.
  std::unique_ptr<distributed::Communicator> routed_comm;
  distributed::Communicator& comm;  // *routed_comm, or the communicator the Trainer was given
  TrainerOptions options;
  Device device;
  bool is_rank0 = false;

  TrainData data;
  std::unique_ptr<data::DataLoader> loader;
  bool epoch_open = false;

  Generator model_generator;  // backbone init and dropout masks
  std::shared_ptr<models::Backbone> backbone;
  std::unique_ptr<MasterWeights> master;
  std::unique_ptr<distributed::DataParallel> dp;  // only with more than one rank
  std::shared_ptr<heads::PartialFC> pfc;
  std::unique_ptr<optim::Optimizer> backbone_opt;
  std::unique_ptr<optim::Optimizer> fc_opt;
  bool fc_sparse = true;            // SGD: SparseRowSGD; AdamW: dense gradient on the shard
  heads::SparseRows fc_grad_ready;  // the unscaled FC rows handed to SparseRowSGD at step()
  std::unique_ptr<optim::LRScheduler> scheduler;
  std::unique_ptr<amp::GradScaler> scaler;

  // Run shape.
  int64_t micro_global_batch = 0;   // batch_size * world: images per micro-batch, all ranks
  int64_t batches_per_epoch = 0;    // per rank (loader)
  int64_t steps_per_epoch = 0;
  int64_t total_step = 0, warmup_step = 0, end_step = 0;

  // Position: steps done, and where the next step's first micro-batch is.
  int64_t global_step = 0, epoch = 0, batch_in_epoch = 0;
  int64_t consecutive_skips = 0;

  // Verification (rank 0).
  std::vector<ValidationTarget> targets;
  std::map<std::string, double> best_accuracy;
  int64_t last_verified_step = -1;

  TrainLog log;
  TrainSummary summary;
};

}  // namespace ff::apps
