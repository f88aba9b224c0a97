// What a reader does with a corrupt record, and the running count of skipped ones.
//
//   Throw         (default) the first bad record throws ff::Error naming file, record, offset.
//   SkipAndCount  the record is skipped; BadRecordLog counts it and keeps the first messages,
//                 so a multi-day run survives a few damaged images and reports them at the end.
//
// Errors that make the whole dataset unusable (a missing part file, an unreadable index, a
// header record that contradicts the index) throw in both modes.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "framework/common/check.h"

namespace ff::data {

enum class OnBadRecord { Throw, SkipAndCount };

// Thread-safe: loader workers report into one log.
class BadRecordLog {
 public:
  explicit BadRecordLog(size_t max_kept_messages = 20) : max_kept_(max_kept_messages) {}

  void report(const std::string& message);
  int64_t count() const { return count_.load(std::memory_order_relaxed); }
  // The first few messages (up to max_kept_messages), in report order.
  std::vector<std::string> first_messages() const;
  // "no bad records" or "N bad records skipped; first: <msg>; ...".
  std::string summary() const;

 private:
  size_t max_kept_;
  std::atomic<int64_t> count_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> kept_;
};

// The policy the datasets share. `read()` returns the record or throws ff::Error.
// Throw: errors propagate. SkipAndCount: an error is reported to `log` and false returned.
template <typename T, typename Read>
bool read_or_count(OnBadRecord policy, BadRecordLog& log, T& out, Read&& read) {
  if (policy == OnBadRecord::Throw) {
    out = read();
    return true;
  }
  try {
    out = read();
    return true;
  } catch (const Error& e) {
    log.report(e.what());
    return false;
  }
}

// get() under SkipAndCount: record `index`, or else the next good one (wrapping), so a
// caller's batch stays full; throws after `max_consecutive` bad records in a row, which means
// the data is broken rather than damaged. `try_get(i, out)` is the dataset's try_get.
template <typename T, typename TryGet>
T get_or_next_good(int64_t index, int64_t size, int64_t max_consecutive, const BadRecordLog& log, TryGet&& try_get) {
  FF_CHECK(index >= 0 && index < size, "record {} is out of range [0, {})", index, size);
  T out;
  const int64_t limit = std::max<int64_t>(1, std::min(size, max_consecutive));
  for (int64_t step = 0; step < limit; ++step) {
    if (try_get((index + step) % size, out)) return out;
  }
  throw Error(fmt::format("{} consecutive bad records starting at record {}; the data looks broken, not damaged ({})",
                          limit, index, log.summary()));
}

}  // namespace ff::data
