// box(): picks the conversion for (from, to), checks, runs it on detached data, and records one
// autograd node whose backward is box(grad, dual(to), dual(from)).
#include "framework/distributed/boxing/boxing.h"

#include <numeric>

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "framework/distributed/boxing/conversion.h"

namespace ff::distributed {

namespace {

const boxing::Conversion& find_conversion(const Sbp& from, const Sbp& to) {
  static const boxing::Conversion* const all[] = {
      &boxing::identity(), &boxing::s_to_b(), &boxing::b_to_s(), &boxing::p_to_b(),
      &boxing::p_to_s(),   &boxing::s_to_s(), &boxing::s_to_p(), &boxing::b_to_p(),
  };
  for (const boxing::Conversion* c : all) {
    if (c->matches(from, to)) return *c;
  }
  FF_ASSERT(false, "no boxing conversion from {} to {}", from.str(), to.str());
}

}  // namespace

std::string boxing_name(const Sbp& from, const Sbp& to) { return find_conversion(from, to).name; }

Tensor box(const Tensor& local, const Sbp& from, const Sbp& to, const Shape& logical_shape, Communicator& comm) {
  check_defined(local, "box", "local");
  const boxing::Conversion& conversion = find_conversion(from, to);
  boxing::Args args{local, from, to, logical_shape, &comm};
  conversion.check(args);
  if (from == to) return local;

  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    args.local = local.detach();
    out = conversion.apply(args);
  }
  Communicator* comm_ptr = &comm;
  autograd::record(std::string("box_") + from.str() + "_to_" + to.str(), {local}, {out}, {},
                   [from, to, logical_shape, comm_ptr](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     return {box(ctx.grad_outputs[0], to.dual(), from.dual(), logical_shape, *comm_ptr)};
                   });
  return out;
}

Tensor box(const Tensor& local, const Sbp& from, const Sbp& to, int64_t logical_dim_size, Communicator& comm) {
  check_defined(local, "box", "local");
  Shape logical = local.sizes();
  if (from.is_split()) {
    FF_CHECK(from.axis() < local.dim(), "box: {} on {}: axis out of range", from.str(), local.describe());
    logical[static_cast<size_t>(from.axis())] = logical_dim_size;
  } else if (logical_dim_size >= 0 && to.is_split() && to.axis() < local.dim()) {
    FF_CHECK(logical[static_cast<size_t>(to.axis())] == logical_dim_size,
             "box: {} -> {}: logical_dim_size {} does not match {} (a {} tensor holds the logical shape)", from.str(),
             to.str(), logical_dim_size, local.describe(), from.str());
  }
  return box(local, from, to, logical, comm);
}

// ---- helpers for the conversions ------------------------------------------------------------------
namespace boxing {

void check_axis(const Args& args, const Sbp& sbp, const char* conversion) {
  if (!sbp.is_split()) return;
  FF_CHECK(sbp.axis() < static_cast<int64_t>(args.logical.size()),
           "box {}: {} needs a tensor with more than {} dims, but the logical shape is {}", conversion, sbp.str(),
           sbp.axis(), shape_str(args.logical));
}

void check_local_shape(const Args& args, const Sbp& sbp, const char* conversion) {
  check_axis(args, sbp, conversion);
  const Shape expected = local_shape(args.logical, sbp, args.comm->rank(), args.comm->world_size());
  FF_CHECK(args.local.sizes() == expected,
           "box {}: rank {} of {} holds {}, but a {} piece of a logical {} tensor has shape {}", conversion,
           args.comm->rank(), args.comm->world_size(), args.local.describe(), sbp.str(), shape_str(args.logical),
           shape_str(expected));
}

std::vector<int64_t> shard_sizes(const Args& args, int64_t axis) {
  return BalancedSplitter(args.logical[static_cast<size_t>(axis)], args.comm->world_size()).sizes();
}

Tensor axis_to_front(const Tensor& t, int64_t axis) {
  if (axis == 0) return t.contiguous();
  std::vector<int64_t> order(static_cast<size_t>(t.dim()));
  std::iota(order.begin(), order.end(), 0);
  order.erase(order.begin() + axis);
  order.insert(order.begin(), axis);
  return t.permute(order).contiguous();
}

Tensor axis_from_front(const Tensor& t, int64_t axis) {
  if (axis == 0) return t;
  // In the front-moved layout [axis, 0, 1, ..], dim d < axis sits at d + 1, `axis` at 0, and
  // the dims after `axis` where they were.
  std::vector<int64_t> order(static_cast<size_t>(t.dim()));
  for (int64_t d = 0; d < t.dim(); ++d) {
    order[static_cast<size_t>(d)] = d < axis ? d + 1 : (d == axis ? 0 : d);
  }
  return t.permute(order).contiguous();
}

}  // namespace boxing
}  // namespace ff::distributed
