// P -> S(i): reduce_scatter(sum) along axis i with per-rank sizes.
// Backward (S(i) -> B): all_gather of the gradient shards.
#include "framework/distributed/boxing/conversion.h"

namespace ff::distributed::boxing {

namespace {
bool matches(const Sbp& from, const Sbp& to) { return from.is_partial_sum() && to.is_split(); }

void check(const Args& args) {
  check_local_shape(args, args.from, "p_to_s");
  check_axis(args, args.to, "p_to_s");
}

Tensor apply(const Args& args) {
  const int64_t axis = args.to.axis();
  Tensor mine = args.comm->reduce_scatter_v(axis_to_front(args.local, axis), shard_sizes(args, axis), ReduceOp::Sum);
  return axis_from_front(mine, axis);
}
}  // namespace

const Conversion& p_to_s() {
  static const Conversion c{"p_to_s (reduce_scatter)", matches, check, apply};
  return c;
}

}  // namespace ff::distributed::boxing
