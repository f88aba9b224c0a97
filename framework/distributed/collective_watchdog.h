// Ends the job when a blocking collective takes longer than a timeout, so that a rank that
// hangs, died without taking the job down, or called collectives in a different order never
// leaves the others waiting forever (the MPI analogue of NCCL's watchdog timeout).
//
// The backends wrap every blocking call (a blocking collective, Work::wait) in a Scope. A
// background thread checks the open scopes; when one has been open longer than the timeout it
// calls fatal_error(), which prints the call and aborts the job.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
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

  double timeout_s_;
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::list<std::pair<std::chrono::steady_clock::time_point, const char*>> open_;  // start, call
  std::thread thread_;
};

}  // namespace ff::distributed
