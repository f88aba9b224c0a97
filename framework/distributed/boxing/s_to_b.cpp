// S(i) -> B: every rank gathers all shards (all_gather with per-rank sizes along axis i).
// Backward (P -> S(i)): reduce_scatter of the partial gradients.
#include "framework/distributed/boxing/conversion.h"

namespace ff::distributed::boxing {

namespace {
bool matches(const Sbp& from, const Sbp& to) { return from.is_split() && to.is_broadcast(); }

void check(const Args& args) { check_local_shape(args, args.from, "s_to_b"); }

Tensor apply(const Args& args) {
  const int64_t axis = args.from.axis();
  Tensor gathered = args.comm->all_gather_v(axis_to_front(args.local, axis), shard_sizes(args, axis));
  return axis_from_front(gathered, axis);
}
}  // namespace

const Conversion& s_to_b() {
  static const Conversion c{"s_to_b (all_gather)", matches, check, apply};
  return c;
}

}  // namespace ff::distributed::boxing
