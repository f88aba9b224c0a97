// The training configuration of apps/train: arcface_torch's config options, read from protobuf
// text format (schema: apps/common/train_config.proto) with command-line overrides.
//
//   TrainConfig cfg = load_train_config("configs/ms1mv3_r100.prototxt", {"optimizer.lr=0.05"});
//
// The file is a TrainConfigProto in text format, sections model {}, margin {}, optimizer {},
// data {}, logging {} (see configs/*.prototxt and docs/user_guide.md). Unknown keys, bad values
// (wrong type, out of range: lr <= 0, sample_rate outside [0, 1], unknown network/precision/
// optimizer/format names, ...) and syntax errors throw ff::Error naming the file, the line and
// column, and the key. An override "key=value" uses the dotted field path (optimizer.lr=0.05,
// data.val_targets=lfw,cfp_fp) and errors name the override. Defaults are arcface_torch's
// configs/base.py.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ff::apps {

struct TrainConfig {
  // ---- model
  std::string network = "r50";        // models::create_backbone names
  int64_t embedding_size = 512;
  double dropout = 0.0;
  int64_t width_divisor = 1;          // tests only: shrink every channel count (models/backbone.h)
  int64_t input_size = 112;

  // ---- margin (CombinedMarginLoss: cos(m1*theta + m2) - m3, scale s)
  double m1 = 1.0, m2 = 0.5, m3 = 0.0;
  double scale = 64.0;
  double sample_rate = 1.0;                      // Partial FC, [0, 1]
  double interclass_filtering_threshold = 0.0;   // 0 = off

  // ---- precision: "fp32", "fp16" (GradScaler), "bf16" (no scaling). Body dtype; head fp32.
  std::string precision = "fp32";

  // ---- optimizer and schedule
  int64_t batch_size = 128;           // per rank
  std::string optimizer = "sgd";      // "sgd" | "adamw"
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  double num_epoch = 20;              // may be fractional for short runs
  double warmup_epoch = 0;
  int64_t gradient_acc = 1;
  double clip_grad_norm = 5.0;        // backbone only, as arcface_torch; 0 = off
  uint64_t seed = 2048;
  int64_t max_steps = 0;              // > 0: stop after this many optimizer steps (demo/tests)

  // ---- data
  std::string data_path;              // OFRecord dir, dir with train.rec/train.idx, image folder,
                                      // or the synthetic dataset dir (generated when missing)
  std::string data_format = "ofrecord";  // "ofrecord" | "rec" | "folder" | "synthetic"
  int64_t num_classes = 0;            // 0: taken from the dataset where it is known
  int64_t num_image = 0;              // 0: taken from the dataset
  std::vector<std::string> val_targets;  // e.g. {"lfw", "cfp_fp", "agedb_30"}: <val_dir>/<name>.bin
  std::string val_dir;                // default: data_path, then data_path/val
  int num_workers = 2;
  std::string image_dtype = "fp32";   // loader output dtype: "fp32" | "fp16"
  bool skip_bad_records = false;      // skip and count bad records instead of stopping
  // synthetic dataset size (data_format "synthetic": generated under data_path when missing)
  int64_t synthetic_identities = 1000;
  int64_t synthetic_images_per_identity = 20;

  // ---- device: "auto" (CUDA when present), "cpu", "cuda"
  std::string device = "auto";

  // ---- logging and saving
  int64_t verbose = 2000;             // steps between verifications (0 = only at the end)
  int64_t frequent = 10;              // steps between log lines
  std::string output = "work_dirs/run";
  bool resume = false;
  int64_t save_every_steps = 0;       // 0 = only at each epoch end
  bool save_all_states = true;        // checkpoints with FC shards + optimizer state
  int64_t keep_checkpoints = 2;       // newest checkpoint directories kept (0 = all)

  std::string source_file;            // the config file path (set by the loader)
};

// Parses `path` then applies `overrides` ("dotted.key=value", in order). Validates the result.
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides = {});

// The same from text (`source_name` names it in errors).
TrainConfig parse_train_config(const std::string& text, const std::string& source_name,
                               const std::vector<std::string>& overrides = {});

// The effective config as protobuf text (written to <output>/config.prototxt by the trainer).
std::string train_config_to_text(const TrainConfig& config);

}  // namespace ff::apps
