// P -> B: all_reduce(sum) of the partial values. Backward (P -> B): all_reduce of the partial
// gradients, the same conversion.
#include "framework/distributed/boxing/conversion.h"

namespace ff::distributed::boxing {

namespace {
bool matches(const Sbp& from, const Sbp& to) { return from.is_partial_sum() && to.is_broadcast(); }

void check(const Args& args) { check_local_shape(args, args.from, "p_to_b"); }

Tensor apply(const Args& args) {
  Tensor out = args.local.contiguous().clone();
  args.comm->all_reduce(out, ReduceOp::Sum);
  return out;
}
}  // namespace

const Conversion& p_to_b() {
  static const Conversion c{"p_to_b (all_reduce)", matches, check, apply};
  return c;
}

}  // namespace ff::distributed::boxing
