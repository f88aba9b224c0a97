// Boxing: converting one logical tensor between SBP layouts over the ranks of a communicator,
// with autograd (OneFlow's boxing, one file per conversion in this folder).
//
//   from -> to     forward (communication)            backward = box(grad, dual(to), dual(from))
//   S(i) -> B      all_gather(v)                      P -> S(i): reduce_scatter(v)
//   B    -> S(i)   local slice                        S(i) -> P: zero-pad the slice (local)
//   P    -> B      all_reduce(sum)                    P -> B: all_reduce(sum)
//   P    -> S(i)   reduce_scatter(v)                  S(i) -> B: all_gather(v)
//   S(i) -> S(j)   all_to_all(v)                      S(j) -> S(i): all_to_all(v)
//   S(i) -> P      zero-pad the slice (local)         B -> S(i): local slice
//   B    -> P      rank 0 keeps it, others zero       B -> P: rank 0 keeps it, others zero
//   x    -> x      identity                           identity
//
// Gradients follow the dual SBP (sbp.h): a B tensor's gradient is P, i.e. each rank holds the
// contribution of its own consumers and the logical gradient is their sum. This is what keeps
// every composition exact: S -> B -> S is the identity and so is its gradient. (Reading B's
// gradient as B instead, and giving B -> S the all_gather backward, would make that round trip's
// gradient P times too large.) Consequence for losses: when every rank computes the same (B)
// loss, seeding backward with 1 on every rank differentiates P copies of it; seed 1/P, or use
// rank-local losses whose sum is the objective (what data parallel does).
//
// Uneven shapes are supported everywhere: S(i) uses the balanced split of the logical size
// (BalancedSplitter; remainders on the first ranks, empty shards allowed), and the collectives
// use the per-rank-count ("v") variants of the communicator.
//
// box() must be called by every rank in the same order (it communicates), and so must the
// backward passes through it. The communicator must outlive the autograd graph.
#pragma once

#include <string>

#include "framework/core/tensor.h"
#include "framework/distributed/communicator.h"
#include "framework/distributed/sbp.h"

namespace ff::distributed {

// `local` is this rank's piece of a logical tensor of shape `logical_shape` laid out as `from`;
// returns this rank's piece of the same logical tensor laid out as `to`. Throws ff::Error (before
// communicating) when `local`'s shape is not the one `from` implies for this rank.
Tensor box(const Tensor& local, const Sbp& from, const Sbp& to, const Shape& logical_shape, Communicator& comm);

// Same, with the logical shape deduced from `local`: `logical_dim_size` is the logical size of
// the axis that `from` splits (when `from` is not a split, local's shape is the logical shape and
// logical_dim_size must be -1 or match it along to's split axis).
Tensor box(const Tensor& local, const Sbp& from, const Sbp& to, int64_t logical_dim_size, Communicator& comm);

// The conversion box() uses for from -> to, e.g. "s_to_b (all_gather)".
std::string boxing_name(const Sbp& from, const Sbp& to);

}  // namespace ff::distributed
