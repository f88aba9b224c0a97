// S(i) -> P: each rank's shard placed at its offset in a zero tensor of the logical shape (the
// ranks' pieces then sum to the logical tensor); no communication.
// Backward (B -> S(i)): the local slice of the gradient.
#include "framework/distributed/boxing/conversion.h"

#include "ops/tensor_ops/fill.h"

namespace ff::distributed::boxing {

namespace {
bool matches(const Sbp& from, const Sbp& to) { return from.is_split() && to.is_partial_sum(); }

void check(const Args& args) { check_local_shape(args, args.from, "s_to_p"); }

Tensor apply(const Args& args) {
  const int64_t axis = args.from.axis();
  const BalancedSplitter split(args.logical[static_cast<size_t>(axis)], args.comm->world_size());
  const int rank = args.comm->rank();
  Tensor out = zeros(args.logical, args.local.dtype(), args.local.device());
  if (split.size(rank) > 0) out.narrow(axis, split.start(rank), split.size(rank)).copy_(args.local);
  return out;
}
}  // namespace

const Conversion& s_to_p() {
  static const Conversion c{"s_to_p (local zero-pad)", matches, check, apply};
  return c;
}

}  // namespace ff::distributed::boxing
