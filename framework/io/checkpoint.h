// Training checkpoints: model, optimizer and scheduler state in one safetensors file.
//
//   Checkpoint ckpt;
//   ckpt.model = model_state;              // StateDict
//   ckpt.optimizer = opt.state_dict();
//   ckpt.scheduler = scheduler.state_dict();
//   ckpt.epoch = epoch;  ckpt.global_step = global_step;
//   ckpt.metadata["config"] = "ms1mv3_r50";  // free-form strings
//   save_checkpoint(out_dir + "/checkpoint_gpu_0.safetensors", ckpt);   // atomic
//   ...
//   Checkpoint resumed = load_checkpoint(path);
//   opt.load_state_dict(resumed.optimizer); scheduler.load_state_dict(resumed.scheduler);
//
// File layout: tensors under "model.<key>", "optimizer.<key>", "scheduler.<key>"; metadata
// "format" = "faceflow.checkpoint", "format_version" = "1", "epoch", "global_step", plus the
// caller's entries (which may not use those four names). Any safetensors reader can open it.
#pragma once

#include <cstdint>
#include <string>

#include "framework/io/safetensors.h"
#include "framework/io/state_dict.h"

namespace ff {

struct Checkpoint {
  StateDict model;
  StateDict optimizer;
  StateDict scheduler;
  int64_t epoch = 0;
  int64_t global_step = 0;
  SafetensorsMetadata metadata;  // extra, caller-defined entries
};

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// The same, from the parts.
void save_checkpoint(const std::string& path, const StateDict& model, const StateDict& optimizer,
                     const StateDict& scheduler, int64_t epoch, int64_t global_step,
                     const SafetensorsMetadata& metadata = {});

// Throws ff::Error naming the file when it is not a FaceFlow checkpoint (no or another
// "format"), has a newer format_version, or holds keys outside the three sections.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace ff
