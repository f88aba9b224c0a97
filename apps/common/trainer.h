// The training loop of apps/train (arcface_torch train_v2.py, with FaceFlow's additions):
// backbone (DataParallel across ranks) + Partial FC margin head (class centres sharded over the
// ranks), SGD/AdamW with PolynomialLRWarmup, fp16 (GradScaler) / bf16, gradient accumulation,
// clip-by-norm on the backbone, periodic logging and verification, atomic checkpoints, resume
// (also with a different number of ranks: the FC is re-sharded), final backbone export.
//
//   TrainConfig cfg = load_train_config(path, overrides);
//   Trainer trainer(cfg, distributed::world());
//   TrainSummary s = trainer.run();
//
// Output dir (cfg.output):
//   config.prototxt                effective config
//   log.txt                        rank 0's log lines
//   metrics.jsonl                  one JSON object per logged step / verification
//   checkpoint_step<N>/            rank-independent checkpoint (format: trainer_checkpoint.h):
//     trainer.safetensors          rank 0: backbone (float32 masters + BN buffers), its optimizer,
//                                  scheduler, GradScaler; metadata: step, epoch, batch in epoch,
//                                  Partial FC step, RNG state, world size, global batch
//     fc_rows_<begin>_<end>.safetensors  one per rank: its class-centre rows and their optimizer state
//     config.prototxt
//                                  written atomically (temp dir + rename); at each epoch end, every
//                                  save_every_steps steps, at the end, and on a non-finite stop
//   latest                         a text file naming the newest complete checkpoint, replaced atomically
//   model.safetensors              backbone only (apps::save_backbone), at each epoch and the end
//
// Steps, epochs and the schedule. A step is one optimizer step over gradient_acc micro-batches
// of batch_size images per rank. steps per epoch = batches per rank and epoch / gradient_acc;
// total_step = floor(num_image / (batch_size * world * gradient_acc) * num_epoch), warmup
// likewise; PolynomialLRWarmup is stepped once per step (arcface_torch steps it per micro-batch
// with totals counted in micro-batches: the same curve). Like arcface_torch, micro-batch losses
// are not divided by gradient_acc (their gradients add up). max_steps > 0 stops the run at that
// global step (the schedule still spans total_step).
//
// Optimizers: the backbone has its own SGD/AdamW over float32 master weights (trainer_precision.h);
// the FC shard has another: SGD -> heads::SparseRowSGD (only the sampled rows, their momentum
// and weight decay change), AdamW -> dense AdamW on the shard with the sampled rows' gradient
// scattered into a zero [rows, D] gradient (what arcface_torch's AdamW over partial_fc_v2 does:
// unsampled rows still decay and move on their moments). Both follow the same lr.
//
// Non-finite values. fp16: a step whose loss or gradients hold inf/NaN is skipped and the loss
// scale backs off (GradScaler; counted as skipped_steps); 50 skips in a row stop the run as
// below. fp32/bf16: the run stops with ff::Error naming the step, after restoring what the bad
// step had touched (BatchNorm running statistics, the Partial FC sampling step) and saving that
// last good state as checkpoint_step<last good step> (when save_all_states).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include "apps/common/train_config.h"
#include "framework/distributed/communicator.h"

namespace ff::apps {

struct TrainSummary {
  int64_t steps = 0;                  // optimizer steps taken in this run (after resume)
  int64_t global_step = 0;            // final global step
  std::vector<double> step_losses;    // loss of every optimizer step of this run, in order
  double last_loss = 0;
  std::vector<std::pair<std::string, double>> last_verification;  // target -> Accuracy-Flip
  int64_t skipped_steps = 0;          // fp16 steps skipped for inf/nan gradients
  int64_t bad_records = 0;            // data.skip_bad_records: records skipped, all ranks, this run
  std::string resumed_from;           // checkpoint directory this run started from ("" = fresh)
  std::string last_checkpoint;        // newest checkpoint directory written by this run
};

// The GPU of local rank `local_rank` when the process sees `device_count` CUDA devices:
// cuda:<local rank>, or cuda:0 when each rank sees only its own device (per-rank
// CUDA_VISIBLE_DEVICES). Throws, naming both numbers, when several devices are visible but fewer
// than the ranks on the node (two ranks would land on one GPU).
int cuda_device_for_local_rank(int local_rank, int device_count);

struct TrainerOptions {
  // Resume from this checkpoint directory (overrides config.resume, which uses <output>/latest).
  std::string resume_dir;
};

class Trainer {
 public:
  // Collective: builds the data, model, optimizers and, when resuming, loads the checkpoint.
  // Throws ff::Error for a bad config, dataset or checkpoint (the same on every rank).
  Trainer(TrainConfig config, distributed::Communicator& comm, TrainerOptions options = {});
  ~Trainer();
  // Collective: trains to the end (or max_steps); returns what this run did.
  TrainSummary run();
 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ff::apps
