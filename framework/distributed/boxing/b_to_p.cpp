// B -> P: rank 0 keeps the value and the other ranks hold zeros, so the pieces sum to it; no
// communication. Backward (B -> P): the same conversion of the gradient.
#include "framework/distributed/boxing/conversion.h"

#include "ops/tensor_ops/fill.h"

namespace ff::distributed::boxing {

namespace {
bool matches(const Sbp& from, const Sbp& to) { return from.is_broadcast() && to.is_partial_sum(); }

void check(const Args& args) { check_local_shape(args, args.from, "b_to_p"); }

Tensor apply(const Args& args) {
  if (args.comm->rank() == 0) return args.local.clone();
  return zeros(args.logical, args.local.dtype(), args.local.device());
}
}  // namespace

const Conversion& b_to_p() {
  static const Conversion c{"b_to_p (rank 0 keeps, others zero)", matches, check, apply};
  return c;
}

}  // namespace ff::distributed::boxing
