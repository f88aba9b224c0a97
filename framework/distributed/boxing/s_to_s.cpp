// S(i) -> S(j), i != j: all_to_all. Rank r cuts its shard (split along i) into the balanced
// pieces along j and sends piece q to rank q; it receives every rank's piece of its own j-range
// and joins them along i. Backward (S(j) -> S(i)): the reverse all_to_all.
//
// Shards differ in size along i (and pieces along j), so the trailing shapes of what each rank
// sends differ: the data travels flattened to 1-D, with element counts per rank.
#include "framework/distributed/boxing/conversion.h"

#include "ops/shape/shape.h"

namespace ff::distributed::boxing {

namespace {
bool matches(const Sbp& from, const Sbp& to) { return from.is_split() && to.is_split() && from != to; }

void check(const Args& args) {
  check_local_shape(args, args.from, "s_to_s");
  check_axis(args, args.to, "s_to_s");
}

Tensor apply(const Args& args) {
  const int64_t i = args.from.axis(), j = args.to.axis();
  const int64_t ndim = args.local.dim();
  // Layout [j, i, the other dims in order]: each destination's piece is a contiguous block.
  std::vector<int64_t> order = {j, i};
  for (int64_t d = 0; d < ndim; ++d) {
    if (d != i && d != j) order.push_back(d);
  }
  Tensor arranged = args.local.permute(order).contiguous();

  const std::vector<int64_t> sizes_i = shard_sizes(args, i), sizes_j = shard_sizes(args, j);
  const int world = args.comm->world_size(), rank = args.comm->rank();
  std::vector<int64_t> send(static_cast<size_t>(world)), recv(static_cast<size_t>(world));
  // Elements per (j, i) pair: the product of the other dims.
  Shape other;
  for (size_t k = 2; k < order.size(); ++k) other.push_back(args.logical[static_cast<size_t>(order[k])]);
  const int64_t pair = shape_numel(other);
  for (int q = 0; q < world; ++q) {
    send[static_cast<size_t>(q)] = sizes_j[static_cast<size_t>(q)] * sizes_i[static_cast<size_t>(rank)] * pair;
    recv[static_cast<size_t>(q)] = sizes_j[static_cast<size_t>(rank)] * sizes_i[static_cast<size_t>(q)] * pair;
  }
  Tensor received = args.comm->all_to_all_v(arranged.reshape({-1}), send, recv);

  // Source q's block is [my j-size, q's i-size, other...]; join along i.
  std::vector<Tensor> pieces;
  int64_t offset = 0;
  for (int q = 0; q < world; ++q) {
    Shape piece_shape = {sizes_j[static_cast<size_t>(rank)], sizes_i[static_cast<size_t>(q)]};
    piece_shape.insert(piece_shape.end(), other.begin(), other.end());
    pieces.push_back(received.narrow(0, offset, recv[static_cast<size_t>(q)]).view(piece_shape));
    offset += recv[static_cast<size_t>(q)];
  }
  Tensor joined = concat(pieces, 1);
  // Undo the permutation: original dim order[k] is at position k.
  std::vector<int64_t> inverse(static_cast<size_t>(ndim));
  for (int64_t k = 0; k < ndim; ++k) inverse[static_cast<size_t>(order[static_cast<size_t>(k)])] = k;
  return joined.permute(inverse).contiguous();
}
}  // namespace

const Conversion& s_to_s() {
  static const Conversion c{"s_to_s (all_to_all)", matches, check, apply};
  return c;
}

}  // namespace ff::distributed::boxing
