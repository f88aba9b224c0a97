// One boxing conversion: a check of its arguments and an implementation (private to boxing/).
// Each conversion lives in its own file (s_to_b.cpp, ...); boxing.cpp picks one and adds autograd.
#pragma once

#include <vector>

#include "framework/core/tensor.h"
#include "framework/distributed/communicator.h"
#include "framework/distributed/sbp.h"

namespace ff::distributed::boxing {

struct Args {
  Tensor local;  // detached when passed to apply()
  Sbp from;
  Sbp to;
  Shape logical;
  Communicator* comm;
};

struct Conversion {
  const char* name;                              // "s_to_b (all_gather)"
  bool (*matches)(const Sbp& from, const Sbp& to);
  void (*check)(const Args& args);               // throws ff::Error; runs before any communication
  Tensor (*apply)(const Args& args);             // returns a fresh tensor (never aliases local)
};

const Conversion& identity();
const Conversion& s_to_b();
const Conversion& b_to_s();
const Conversion& p_to_b();
const Conversion& p_to_s();
const Conversion& s_to_s();
const Conversion& s_to_p();
const Conversion& b_to_p();

// ---- helpers shared by the conversions ----------------------------------------------------------
// Throws unless local's shape is what `sbp` gives this rank for args.logical.
void check_local_shape(const Args& args, const Sbp& sbp, const char* conversion);
// Throws unless `sbp`'s split axis is a dim of the logical tensor.
void check_axis(const Args& args, const Sbp& sbp, const char* conversion);
// Balanced sizes of logical dim `axis` over the ranks.
std::vector<int64_t> shard_sizes(const Args& args, int64_t axis);
// t with `axis` moved to dim 0 (contiguous), and back.
Tensor axis_to_front(const Tensor& t, int64_t axis);
Tensor axis_from_front(const Tensor& t, int64_t axis);

}  // namespace ff::distributed::boxing
