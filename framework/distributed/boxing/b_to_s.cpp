// B -> S(i): each rank keeps its balanced slice along axis i; no communication.
// Backward (S(i) -> P): the slice's gradient zero-padded to the logical shape, also local.
#include "framework/distributed/boxing/conversion.h"

namespace ff::distributed::boxing {

namespace {
bool matches(const Sbp& from, const Sbp& to) { return from.is_broadcast() && to.is_split(); }

void check(const Args& args) {
  check_local_shape(args, args.from, "b_to_s");
  check_axis(args, args.to, "b_to_s");
}

Tensor apply(const Args& args) {
  const int64_t axis = args.to.axis();
  const BalancedSplitter split(args.logical[static_cast<size_t>(axis)], args.comm->world_size());
  const int rank = args.comm->rank();
  return args.local.narrow(axis, split.start(rank), split.size(rank)).clone();
}
}  // namespace

const Conversion& b_to_s() {
  static const Conversion c{"b_to_s (local slice)", matches, check, apply};
  return c;
}

}  // namespace ff::distributed::boxing
