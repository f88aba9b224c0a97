// x -> x: nothing moves (box() returns the input itself).
#include "framework/distributed/boxing/conversion.h"

namespace ff::distributed::boxing {

namespace {
bool matches(const Sbp& from, const Sbp& to) { return from == to; }
void check(const Args& args) { check_local_shape(args, args.from, "identity"); }
Tensor apply(const Args& args) { return args.local.clone(); }
}  // namespace

const Conversion& identity() {
  static const Conversion c{"identity", matches, check, apply};
  return c;
}

}  // namespace ff::distributed::boxing
