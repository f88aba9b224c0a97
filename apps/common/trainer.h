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
//   checkpoint_step<N>/            rank-independent checkpoint: backbone + optimizer state (rank 0),
//                                  FC shards with their row ranges and momenta, scheduler, step,
//                                  epoch, RNG/sampler state; written atomically (temp dir + rename)
//   latest -> checkpoint dir name  (a text file holding the name, replaced atomically)
//   model.safetensors              backbone only (apps::save_backbone), at each epoch and the end
#pragma once
#include <cstdint>
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
};

class Trainer {
 public:
  Trainer(TrainConfig config, distributed::Communicator& comm);
  ~Trainer();
  TrainSummary run();
 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ff::apps
