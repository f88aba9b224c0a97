// The trainer's checkpoints: one directory per checkpoint that does not depend on the number of
// ranks that wrote it, written atomically, and read back by any number of ranks (the Partial FC
// class centres are re-sharded on load; arcface_torch's per-rank files cannot be).
//
// <output>/checkpoint_step<N>/
//   trainer.safetensors                rank 0: "backbone.<key>" the backbone's state_dict in float32
//                                      (parameters from the float32 master copies), "optimizer.<key>"
//                                      the backbone optimizer, "scheduler.<key>", "grad_scaler.<key>";
//                                      metadata: format "faceflow.train_checkpoint", position (step,
//                                      epoch, batch_in_epoch), RNG and sampler state, run shape
//                                      (world_size, global batch), model identity (see trainer.cpp)
//   fc_rows_<begin>_<end>.safetensors  one per rank: "weight" [end - begin, D], the class centres
//                                      of global rows [begin, end), and "optimizer.<key>" the FC
//                                      optimizer's state for them (row tensors [end - begin, D] plus
//                                      scalars); metadata row_begin, row_end, num_classes, embedding_size
//   config.prototxt                    rank 0: the effective config
// <output>/latest                      the name of the newest complete checkpoint directory
//
// Atomicity: every rank writes into <output>/.checkpoint_step<N>.tmp/, the ranks agree that all
// writes succeeded, then rank 0 renames the directory into place and replaces `latest` (each an
// atomic rename). A crash or a failed write at any point leaves the previous checkpoint and
// `latest` intact; a stale .tmp directory is removed by the next save. Older checkpoints are
// pruned by prune_checkpoints (logging.keep_checkpoints).
// All ranks must see the same output directory (one node, or a shared file system).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/distributed/communicator.h"
#include "framework/io/safetensors.h"
#include "framework/io/state_dict.h"

namespace ff::apps {

inline constexpr const char* kTrainCheckpointFormat = "faceflow.train_checkpoint";

// "checkpoint_step<step>".
std::string checkpoint_dir_name(int64_t step);

// Collective. Creates the temporary directory, calls `write_rank_files(tmp_dir)` on every rank,
// then, only if every rank succeeded, renames it to <output_dir>/checkpoint_step<step> (replacing
// an existing one of the same step) and points `latest` at it. Returns the final directory.
// When any rank's writer throws, the temporary directory is removed, `latest` is unchanged, and
// every rank throws ff::Error naming the step (and the failing rank's message on that rank):
// no rank is left waiting.
std::string commit_checkpoint(const std::string& output_dir, int64_t step, distributed::Communicator& comm,
                              const std::function<void(const std::string& tmp_dir)>& write_rank_files);

// Deletes checkpoint_step<N> directories of output_dir with N < newest_step beyond the `keep`
// newest ones with N <= newest_step (the directory of newest_step counts as one); directories
// with N > newest_step (an earlier run's, when this one resumed from an older checkpoint), the
// one `latest` names and anything else are left alone. keep <= 0 deletes nothing. Returns the
// deleted directories, oldest first; a directory that cannot be deleted is skipped and named in
// *failures (one line each) rather than thrown: pruning must never stop a training run.
std::vector<std::string> prune_checkpoints(const std::string& output_dir, int64_t newest_step, int64_t keep,
                                           std::vector<std::string>* failures);

// The directory `latest` names, as a path under output_dir; empty when there is no `latest`.
// Throws naming the file when it names a directory that does not exist.
std::string latest_checkpoint(const std::string& output_dir);

// rank 0's part: written to / read from <dir>/trainer.safetensors.
struct TrainerCheckpointState {
  StateDict backbone;
  StateDict optimizer;
  StateDict scheduler;
  StateDict grad_scaler;
  SafetensorsMetadata metadata;  // position, RNG, run shape; "format" is added on save
};
void write_trainer_state(const std::string& dir, const TrainerCheckpointState& state);
TrainerCheckpointState read_trainer_state(const std::string& dir);

// One rank's FC shard: global rows [row_begin, row_end) of the class-centre matrix.
struct FcShardState {
  int64_t row_begin = 0, row_end = 0;
  int64_t num_classes = 0;
  Tensor weight;         // [row_end - row_begin, D]
  StateDict optimizer;   // row tensors [rows, D] and scalars
};
// Writes <dir>/fc_rows_<begin>_<end>.safetensors.
void write_fc_shard(const std::string& dir, const FcShardState& shard);

// Reads global rows [row_begin, row_end) from whatever fc_rows_* files `dir` holds (written by
// any number of ranks): the weight rows and every optimizer row tensor are assembled from the
// files that cover them; scalar optimizer entries are taken from the files (they must agree).
// Throws naming the directory when rows are missing, files overlap inconsistently, or
// num_classes / embedding_size / the optimizer keys differ between files or from `num_classes`.
FcShardState read_fc_rows(const std::string& dir, int64_t row_begin, int64_t row_end, int64_t num_classes);

}  // namespace ff::apps
