// The trainer's output on rank 0: log lines (stdout + <output>/log.txt), a progress line when
// stdout is a terminal, and machine-readable metrics (<output>/metrics.jsonl, appended, one
// JSON object per line).
//
//   TrainLog log(output_dir, /*enabled=*/comm.rank() == 0);
//   log.step({.step = 120, .total_steps = 3000, ...});   // every `frequent` steps
//   log.progress(step, total, loss);                     // every step; only on a terminal
//   log.verification(...);                               // every `verbose` steps
//
// Log line (fields of arcface_torch's callback_logging):
//   step 120/3000 epoch 0 loss 21.3456 lr 0.0996 speed 1234.5 samples/s grad_scale 65536 eta 0h12m
// metrics.jsonl records:
//   {"type":"train","step":120,"epoch":0,"loss":21.3456,"step_loss":21.1,"lr":0.0996,
//    "samples_per_sec":1234.5,"grad_scale":65536,"grad_norm":3.2,"skipped_steps":0,"eta_s":720,...}
//   {"type":"verification","step":2000,"target":"lfw","accuracy_flip":0.99,"accuracy_std":0.003,
//    "xnorm":22.1,"best_accuracy_flip":0.99}
// "loss" is the mean over the steps since the previous log line (arcface_torch's AverageMeter),
// "step_loss" the loss of the logged step itself, written with 17 significant digits so that
// runs can be compared exactly.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace ff::apps {

struct StepLogRecord {
  int64_t step = 0;          // optimizer steps done (1-based for the step just finished)
  int64_t total_steps = 0;
  int64_t epoch = 0;
  double loss = 0;           // mean over the logging window
  double step_loss = 0;      // this step's loss
  double lr = 0;
  double samples_per_sec = 0;  // all ranks together
  double grad_scale = 1;
  double grad_norm = 0;      // backbone gradient norm before clipping
  int64_t skipped_steps = 0;   // fp16 steps skipped so far in this run
  double eta_seconds = 0;
};

struct VerificationLogRecord {
  int64_t step = 0;
  std::string target;
  double accuracy_flip = 0, accuracy_std = 0, xnorm = 0, best_accuracy_flip = 0;
};

// "0h12m" (hours and minutes, rounded up to the minute; "0h00m" at the end).
std::string format_eta(double seconds);
// The log line of a step record (no trailing newline).
std::string format_step_line(const StepLogRecord& r);
// The metrics.jsonl object of a record (one line, no newline).
std::string step_record_json(const StepLogRecord& r);
std::string verification_record_json(const VerificationLogRecord& r);

class TrainLog {
 public:
  // enabled = false (ranks other than 0): every call does nothing. Otherwise opens log.txt and
  // metrics.jsonl under `output_dir` for appending (a resumed run continues them).
  TrainLog(const std::string& output_dir, bool enabled);
  ~TrainLog();
  TrainLog(const TrainLog&) = delete;
  TrainLog& operator=(const TrainLog&) = delete;

  void step(const StepLogRecord& r);
  void verification(const VerificationLogRecord& r);
  // A free-form line ("resumed from ...", warnings): stdout and log.txt.
  void note(const std::string& line);
  // "\r[step/total] loss x" redrawn in place, only when stdout is a terminal (and not under
  // mpirun/srun, whose ranks see a pseudo-terminal even when the output goes to a file).
  void progress(int64_t step, int64_t total_steps, double loss);

 private:
  void line(const std::string& text);
  void metrics(const std::string& json);

  bool enabled_;
  bool tty_ = false;
  bool progress_shown_ = false;
  std::FILE* log_ = nullptr;
  std::FILE* metrics_ = nullptr;
};

}  // namespace ff::apps
