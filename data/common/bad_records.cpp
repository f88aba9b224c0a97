#include "data/common/bad_records.h"

#include <fmt/format.h>

namespace ff::data {

void BadRecordLog::report(const std::string& message) {
  count_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mutex_);
  if (kept_.size() < max_kept_) kept_.push_back(message);
}

std::vector<std::string> BadRecordLog::first_messages() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return kept_;
}

std::string BadRecordLog::summary() const {
  const int64_t n = count();
  if (n == 0) return "no bad records";
  std::string out = fmt::format("{} bad record{} skipped", n, n == 1 ? "" : "s");
  const auto kept = first_messages();
  for (size_t i = 0; i < kept.size(); ++i) out += fmt::format("{} {}", i == 0 ? "; first:" : ";", kept[i]);
  if (static_cast<int64_t>(kept.size()) < n) out += fmt::format("; ... ({} more)", n - static_cast<int64_t>(kept.size()));
  return out;
}

}  // namespace ff::data
