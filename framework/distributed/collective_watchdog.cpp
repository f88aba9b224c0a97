#include "framework/distributed/collective_watchdog.h"

#include <algorithm>
#include <cstdlib>

#include "framework/common/check.h"
#include "framework/distributed/communicator.h"

namespace ff::distributed {

double CollectiveWatchdog::timeout_from_env() {
  const char* v = std::getenv("FF_COLLECTIVE_TIMEOUT_S");
  if (v == nullptr || *v == '\0') return 1800.0;
  char* end = nullptr;
  const double t = std::strtod(v, &end);
  FF_CHECK(*end == '\0' && t >= 0.0, "FF_COLLECTIVE_TIMEOUT_S='{}' is not a number of seconds >= 0", v);
  return t;
}

CollectiveWatchdog::CollectiveWatchdog(double timeout_s) : timeout_s_(timeout_s) {
  if (timeout_s_ > 0.0) thread_ = std::thread([this] { run(); });
}

CollectiveWatchdog::~CollectiveWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

CollectiveWatchdog::Scope::Scope(CollectiveWatchdog* watchdog, const char* what) : watchdog_(watchdog) {
  if (watchdog_ == nullptr || watchdog_->timeout_s_ <= 0.0) {
    watchdog_ = nullptr;
    return;
  }
  std::lock_guard<std::mutex> lock(watchdog_->mutex_);
  it_ = watchdog_->open_.emplace(watchdog_->open_.end(), std::chrono::steady_clock::now(), what);
}

CollectiveWatchdog::Scope::~Scope() {
  if (watchdog_ == nullptr) return;
  std::lock_guard<std::mutex> lock(watchdog_->mutex_);
  watchdog_->open_.erase(it_);
}

void CollectiveWatchdog::run() {
  using namespace std::chrono;
  const auto timeout = duration_cast<steady_clock::duration>(duration<double>(timeout_s_));
  // Check often enough that the job ends within ~25% of the timeout after it expires.
  const auto period = std::min<steady_clock::duration>(seconds(1), timeout / 4 + milliseconds(1));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    stop_cv_.wait_for(lock, period, [this] { return stop_; });
    if (stop_) break;
    const auto now = steady_clock::now();
    for (const auto& [start, what] : open_) {
      if (now - start > timeout) {
        const std::string call = what;
        lock.unlock();
        fatal_error(fmt::format(
            "collective {} did not complete within {} s (FF_COLLECTIVE_TIMEOUT_S): another rank failed, "
            "hangs, or called the collectives in a different order; aborting the job",
            call, timeout_s_));
      }
    }
  }
}

}  // namespace ff::distributed
