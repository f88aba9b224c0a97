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
  for (AsyncOp& op : async_) {
    if (op.release) op.release();
  }
}

void CollectiveWatchdog::watch(std::string what, std::function<AsyncStatus()> poll, std::function<void()> release) {
  FF_ASSERT(poll != nullptr, "CollectiveWatchdog::watch('{}') without a poll function", what);
  if (timeout_s_ <= 0.0) {
    if (release) release();
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  async_.push_back({std::chrono::steady_clock::now(), std::move(what), std::move(poll), std::move(release)});
}

void CollectiveWatchdog::set_on_fatal(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mutex_);
  on_fatal_ = std::move(hook);
}

size_t CollectiveWatchdog::pending_async() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return async_.size() + polling_;
}

void CollectiveWatchdog::poll_async(std::unique_lock<std::mutex>& lock, std::chrono::steady_clock::duration timeout) {
  // Take this round's operations out, poll them unlocked (a poll may call into CUDA/NCCL and
  // the caller keeps registering new ones meanwhile), then put the unfinished ones back in front
  // so the list stays in registration order.
  std::list<AsyncOp> round;
  round.swap(async_);
  polling_ = round.size();
  const std::function<void()> on_fatal = on_fatal_;
  lock.unlock();
  std::string failure;
  for (auto it = round.begin(); it != round.end() && failure.empty();) {
    const AsyncStatus status = it->poll();
    if (!status.error.empty()) {
      failure = fmt::format("{} failed: {}", it->what, status.error);
    } else if (status.done) {
      if (it->release) it->release();
      it = round.erase(it);
      continue;
    } else if (std::chrono::steady_clock::now() - it->start > timeout) {
      failure = fmt::format(
          "asynchronous collective {} did not complete within {} s (FF_COLLECTIVE_TIMEOUT_S): another rank failed, "
          "hangs, or called the collectives in a different order; aborting the job",
          it->what, timeout_s_);
    }
    ++it;
  }
  if (!failure.empty()) {
    if (on_fatal) on_fatal();
    fatal_error(failure);
  }
  lock.lock();
  async_.splice(async_.begin(), round);
  polling_ = 0;
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
    if (!async_.empty()) poll_async(lock, timeout);
    const auto now = steady_clock::now();
    for (const auto& [start, what] : open_) {
      if (now - start > timeout) {
        const std::string call = what;
        const std::function<void()> on_fatal = on_fatal_;
        lock.unlock();
        if (on_fatal) on_fatal();
        fatal_error(fmt::format(
            "collective {} did not complete within {} s (FF_COLLECTIVE_TIMEOUT_S): another rank failed, "
            "hangs, or called the collectives in a different order; aborting the job",
            call, timeout_s_));
      }
    }
  }
}

}  // namespace ff::distributed
