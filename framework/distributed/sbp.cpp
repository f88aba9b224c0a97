#include "framework/distributed/sbp.h"

#include <algorithm>
#include <cstdlib>

#include "framework/common/check.h"

namespace ff::distributed {

Sbp Sbp::split(int64_t axis) {
  FF_CHECK(axis >= 0, "Sbp::split: axis must be >= 0, got {}", axis);
  return Sbp(Kind::Split, axis);
}

Sbp Sbp::parse(const std::string& s) {
  if (s == "B" || s == "broadcast") return broadcast();
  if (s == "P" || s == "partial_sum") return partial_sum();
  for (const char* prefix : {"S(", "split("}) {
    const std::string p(prefix);
    if (s.size() > p.size() + 1 && s.compare(0, p.size(), p) == 0 && s.back() == ')') {
      const std::string digits = s.substr(p.size(), s.size() - p.size() - 1);
      char* end = nullptr;
      const long long axis = std::strtoll(digits.c_str(), &end, 10);
      if (!digits.empty() && *end == '\0' && axis >= 0) return split(axis);
    }
  }
  FF_THROW("bad SBP '{}': expected S(<axis>), B or P (or split(<axis>), broadcast, partial_sum)", s);
}

int64_t Sbp::axis() const {
  FF_CHECK(is_split(), "Sbp::axis() called on {}, which is not a split", str());
  return axis_;
}

Sbp Sbp::dual() const {
  switch (kind_) {
    case Kind::Split: return *this;
    case Kind::Broadcast: return partial_sum();
    case Kind::PartialSum: return broadcast();
  }
  FF_ASSERT(false, "unknown SBP kind");
}

std::string Sbp::str() const {
  switch (kind_) {
    case Kind::Split: return fmt::format("S({})", axis_);
    case Kind::Broadcast: return "B";
    case Kind::PartialSum: return "P";
  }
  return "?";
}

BalancedSplitter::BalancedSplitter(int64_t total, int64_t parts) : total_(total), parts_(parts) {
  FF_CHECK(total >= 0, "BalancedSplitter: total must be >= 0, got {}", total);
  FF_CHECK(parts >= 1, "BalancedSplitter: parts must be >= 1, got {}", parts);
}

int64_t BalancedSplitter::size(int64_t part) const {
  FF_CHECK(part >= 0 && part < parts_, "BalancedSplitter: part {} out of range [0, {})", part, parts_);
  return total_ / parts_ + (part < total_ % parts_ ? 1 : 0);
}

int64_t BalancedSplitter::start(int64_t part) const {
  FF_CHECK(part >= 0 && part <= parts_, "BalancedSplitter: part {} out of range [0, {}]", part, parts_);
  return total_ / parts_ * part + std::min(part, total_ % parts_);
}

std::vector<int64_t> BalancedSplitter::sizes() const {
  std::vector<int64_t> out(static_cast<size_t>(parts_));
  for (int64_t i = 0; i < parts_; ++i) out[static_cast<size_t>(i)] = size(i);
  return out;
}

Shape local_shape(const Shape& logical, const Sbp& sbp, int64_t rank, int64_t world) {
  if (!sbp.is_split()) return logical;
  const int64_t axis = sbp.axis();
  FF_CHECK(axis < static_cast<int64_t>(logical.size()), "local_shape: {} on a tensor of shape {} (rank {})",
           sbp.str(), shape_str(logical), logical.size());
  Shape out = logical;
  out[static_cast<size_t>(axis)] = BalancedSplitter(logical[static_cast<size_t>(axis)], world).size(rank);
  return out;
}

}  // namespace ff::distributed
