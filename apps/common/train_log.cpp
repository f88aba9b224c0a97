#include "apps/common/train_log.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "framework/common/check.h"
#include "framework/io/json.h"

namespace ff::apps {
namespace {

// JSON has no NaN/Infinity: a non-finite value is written as null.
std::string json_number(double v) { return std::isfinite(v) ? fmt::format("{:.17g}", v) : "null"; }

std::FILE* open_append(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  FF_CHECK(f != nullptr, "train log: cannot open {} for appending: {}", path, std::strerror(errno));
  return f;
}

}  // namespace

std::string format_eta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const int64_t minutes = static_cast<int64_t>(std::ceil(seconds / 60.0));
  return fmt::format("{}h{:02d}m", minutes / 60, minutes % 60);
}

std::string format_step_line(const StepLogRecord& r) {
  std::string s = fmt::format("step {}/{} epoch {} loss {:.4f} lr {:.6g} speed {:.1f} samples/s grad_scale {:g} "
                              "eta {}",
                              r.step, r.total_steps, r.epoch, r.loss, r.lr, r.samples_per_sec, r.grad_scale,
                              format_eta(r.eta_seconds));
  if (r.skipped_steps > 0) s += fmt::format(" skipped_steps {}", r.skipped_steps);
  return s;
}

std::string step_record_json(const StepLogRecord& r) {
  return fmt::format(
      "{{\"type\":\"train\",\"step\":{},\"total_steps\":{},\"epoch\":{},\"loss\":{},\"step_loss\":{},\"lr\":{},"
      "\"samples_per_sec\":{},\"grad_scale\":{},\"grad_norm\":{},\"skipped_steps\":{},\"eta_s\":{}}}",
      r.step, r.total_steps, r.epoch, json_number(r.loss), json_number(r.step_loss), json_number(r.lr),
      json_number(r.samples_per_sec), json_number(r.grad_scale), json_number(r.grad_norm), r.skipped_steps,
      json_number(r.eta_seconds));
}

std::string verification_record_json(const VerificationLogRecord& r) {
  return fmt::format(
      "{{\"type\":\"verification\",\"step\":{},\"target\":{},\"accuracy_flip\":{},\"accuracy_std\":{},"
      "\"xnorm\":{},\"best_accuracy_flip\":{}}}",
      r.step, json::quote(r.target), json_number(r.accuracy_flip), json_number(r.accuracy_std),
      json_number(r.xnorm), json_number(r.best_accuracy_flip));
}

TrainLog::TrainLog(const std::string& output_dir, bool enabled) : enabled_(enabled) {
  if (!enabled_) return;
  // Under mpirun a rank's stdout is a pseudo-terminal even when the job's output goes to a file:
  // the progress line (carriage returns, escape codes) is only drawn for a direct terminal run.
  const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
                        std::getenv("SLURM_PROCID") != nullptr;
  tty_ = isatty(STDOUT_FILENO) == 1 && !launched;
  log_ = open_append(output_dir + "/log.txt");
  metrics_ = open_append(output_dir + "/metrics.jsonl");
}

TrainLog::~TrainLog() {
  if (progress_shown_) std::fputs("\n", stdout);
  if (log_) std::fclose(log_);
  if (metrics_) std::fclose(metrics_);
}

void TrainLog::line(const std::string& text) {
  if (progress_shown_) {
    std::fputs("\r\033[K", stdout);  // erase the progress line before printing over it
    progress_shown_ = false;
  }
  std::fputs(text.c_str(), stdout);
  std::fputs("\n", stdout);
  std::fflush(stdout);
  std::fputs(text.c_str(), log_);
  std::fputs("\n", log_);
  std::fflush(log_);
}

void TrainLog::metrics(const std::string& json) {
  std::fputs(json.c_str(), metrics_);
  std::fputs("\n", metrics_);
  // Flushed per record: a run that dies keeps every record written before.
  std::fflush(metrics_);
}

void TrainLog::step(const StepLogRecord& r) {
  if (!enabled_) return;
  line(format_step_line(r));
  metrics(step_record_json(r));
}

void TrainLog::verification(const VerificationLogRecord& r) {
  if (!enabled_) return;
  line(fmt::format("[{}][{}] XNorm: {:.6f}  Accuracy-Flip: {:.5f}+-{:.5f}  Accuracy-Highest: {:.5f}", r.target,
                   r.step, r.xnorm, r.accuracy_flip, r.accuracy_std, r.best_accuracy_flip));
  metrics(verification_record_json(r));
}

void TrainLog::note(const std::string& text) {
  if (!enabled_) return;
  line(text);
}

void TrainLog::progress(int64_t step, int64_t total_steps, double loss) {
  if (!enabled_ || !tty_) return;
  std::fputs(fmt::format("\r\033[K[{}/{}] loss {:.4f}", step, total_steps, loss).c_str(), stdout);
  std::fflush(stdout);
  progress_shown_ = true;
}

}  // namespace ff::apps
