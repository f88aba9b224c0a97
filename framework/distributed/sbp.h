// SBP: how one logical tensor is laid out over the ranks of a communicator (OneFlow's
// SbpParallel, restricted to a 1-D placement: every rank of the communicator).
//
//   split(axis)  rank r holds the r-th balanced slice of the logical tensor along `axis`
//                (BalancedSplitter below: sizes differ by at most one, the first ranks larger)
//   broadcast    every rank holds the whole logical tensor
//   partial_sum  every rank holds a tensor of the logical shape; the logical value is their sum
//
// Example, logical x [5, 4] on 2 ranks: S(0) -> rank 0 holds rows 0..2 [3, 4], rank 1 rows 3..4
// [2, 4]; S(1) -> [5, 2] each; B -> [5, 4] each, equal; P -> [5, 4] each, x = x0 + x1.
//
// Gradients use the dual SBP (OneFlow's convention): the gradient of an S(i) tensor is S(i),
// of a B tensor P (each rank holds its own consumers' contribution), of a P tensor B.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/core/shape.h"

namespace ff::distributed {

class Sbp {
 public:
  enum class Kind : uint8_t { Split, Broadcast, PartialSum };

  static Sbp split(int64_t axis);
  static Sbp broadcast() { return Sbp(Kind::Broadcast, -1); }
  static Sbp partial_sum() { return Sbp(Kind::PartialSum, -1); }
  // "S(1)", "B", "P" (also "split(1)", "broadcast", "partial_sum"); throws on anything else.
  static Sbp parse(const std::string& s);

  Kind kind() const { return kind_; }
  bool is_split() const { return kind_ == Kind::Split; }
  bool is_broadcast() const { return kind_ == Kind::Broadcast; }
  bool is_partial_sum() const { return kind_ == Kind::PartialSum; }
  // The split axis; throws unless is_split().
  int64_t axis() const;

  // The SBP of this tensor's gradient: S(i) -> S(i), B -> P, P -> B.
  Sbp dual() const;

  std::string str() const;  // "S(1)", "B", "P"
  bool operator==(const Sbp& o) const { return kind_ == o.kind_ && axis_ == o.axis_; }
  bool operator!=(const Sbp& o) const { return !(*this == o); }

 private:
  Sbp(Kind kind, int64_t axis) : kind_(kind), axis_(axis) {}
  Kind kind_;
  int64_t axis_;  // -1 unless split
};

// Balanced split of `total` items over `parts` ranks: rank i gets total / parts items, plus one
// when i < total % parts, starting at total / parts * i + min(i, total % parts). Ranks may get
// zero items when total < parts. (Partial FC's class shards; OneFlow's BalancedSplitter.)
class BalancedSplitter {
 public:
  BalancedSplitter(int64_t total, int64_t parts);
  int64_t total() const { return total_; }
  int64_t parts() const { return parts_; }
  int64_t size(int64_t part) const;
  int64_t start(int64_t part) const;
  int64_t end(int64_t part) const { return start(part) + size(part); }
  std::vector<int64_t> sizes() const;  // size(0), ..., size(parts - 1)

 private:
  int64_t total_;
  int64_t parts_;
};

// Shape of rank `rank`'s local tensor for a logical tensor of `logical` shape laid out as `sbp`
// over `world` ranks (throws when a split axis is out of range).
Shape local_shape(const Shape& logical, const Sbp& sbp, int64_t rank, int64_t world);

}  // namespace ff::distributed
