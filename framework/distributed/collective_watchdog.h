// Ends the job when a blocking collective takes longer than a timeout, so that a rank that
// hangs, died without taking the job down, or called collectives in a different order never
// leaves the others waiting forever (the MPI analogue of NCCL's watchdog timeout).
//
// The backends wrap every blocking call (a blocking collective, Work::wait) in a Scope. A
// background thread checks the open scopes; when one has been open longer than the timeout it
// calls fatal_error(), which prints the call and aborts the job.
//
// Asynchronous operations (NCCL kernels queued on a stream: the host never blocks in the call,
// and a hang shows up later, at some unrelated host read) are registered with watch(): the
// thread polls each until it reports done. One that reports an error, or is still pending after
// the timeout, ends the job the same way, after the on_fatal hook (NCCL: ncclCommAbort, which
// also frees the peers blocked inside NCCL on this rank).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>

namespace ff::distributed {

class CollectiveWatchdog {
 public:
  // FF_COLLECTIVE_TIMEOUT_S from the environment (seconds, may be fractional; 0 disables),
  // default 1800 as NCCL's.
  static double timeout_from_env();

  explicit CollectiveWatchdog(double timeout_s);
  ~CollectiveWatchdog();
  CollectiveWatchdog(const CollectiveWatchdog&) = delete;
  CollectiveWatchdog& operator=(const CollectiveWatchdog&) = delete;

  double timeout_s() const { return timeout_s_; }

  // What a poll of an asynchronous operation found.
  struct AsyncStatus {
    bool done = false;
    std::string error;  // non-empty: the operation failed (the job ends with this message)
  };
  // Polls `poll` from the watchdog thread (so it must be callable there, without the caller's
  // locks) until it reports done; then, or when the watchdog is destroyed first, `release` runs
  // once (e.g. destroys the CUDA event that `poll` queries). With the watchdog disabled
  // (timeout 0) nothing is polled and `release` runs at once.
  void watch(std::string what, std::function<AsyncStatus()> poll, std::function<void()> release = {});
  // Runs on the watchdog thread just before it ends the job (for a late blocking call, or a
  // failed or late asynchronous operation).
  void set_on_fatal(std::function<void()> hook);
  // Asynchronous operations registered and not yet seen done (for tests).
  size_t pending_async() const;

  // Marks one blocking call (named for the error message) for its lifetime.
  class Scope {
   public:
    Scope(CollectiveWatchdog* watchdog, const char* what);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    CollectiveWatchdog* watchdog_;
    std::list<std::pair<std::chrono::steady_clock::time_point, const char*>>::iterator it_;
  };

 private:
  void run();

  struct AsyncOp {
    std::chrono::steady_clock::time_point start;
    std::string what;
    std::function<AsyncStatus()> poll;
    std::function<void()> release;
  };
  // Polls the asynchronous operations outside the lock; ends the job on an error or a timeout.
  void poll_async(std::unique_lock<std::mutex>& lock, std::chrono::steady_clock::duration timeout);

  double timeout_s_;
  mutable std::mutex mutex_;
  std::list<AsyncOp> async_;  // registered, not yet polled as done
  size_t polling_ = 0;        // taken out of async_ by the thread for the current round
  std::function<void()> on_fatal_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::list<std::pair<std::chrono::steady_clock::time_point, const char*>> open_;  // start, call
  std::thread thread_;
};

}  // namespace ff::distributed
