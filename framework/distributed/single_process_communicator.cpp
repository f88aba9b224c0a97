#include "framework/distributed/single_process_communicator.h"

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "framework/distributed/backends.h"

namespace ff::distributed {

namespace {
// A detached copy: collectives produce data, never autograd history.
Tensor fresh_copy(const Tensor& in, const char* op) {
  check_defined(in, op, "in");
  FF_CHECK(in.dim() >= 1, "{}: expected a tensor with at least one dim, got {}", op, in.describe());
  autograd::NoGradGuard no_grad;
  return in.detach().clone();
}
}  // namespace

std::shared_ptr<Work> SingleProcessCommunicator::all_reduce(const Tensor& t, ReduceOp, bool) {
  check_defined(t, "all_reduce", "t");
  FF_CHECK(t.is_contiguous(), "all_reduce: {} must be contiguous", t.describe());
  return std::make_shared<CompletedWork>();
}

Tensor SingleProcessCommunicator::all_gather(const Tensor& in) { return fresh_copy(in, "all_gather"); }

Tensor SingleProcessCommunicator::reduce_scatter(const Tensor& in, ReduceOp) {
  return fresh_copy(in, "reduce_scatter");
}

void SingleProcessCommunicator::broadcast(const Tensor& t, int root) {
  check_defined(t, "broadcast", "t");
  FF_CHECK(root == 0, "broadcast: root {} out of range for a world of 1", root);
  FF_CHECK(t.is_contiguous(), "broadcast: {} must be contiguous", t.describe());
}

Tensor SingleProcessCommunicator::all_to_all(const Tensor& in) { return fresh_copy(in, "all_to_all"); }

void SingleProcessCommunicator::abort(const std::string& message) { fatal_error(message); }

namespace detail {
std::unique_ptr<Communicator> make_single_process_communicator() {
  return std::make_unique<SingleProcessCommunicator>();
}
}  // namespace detail

}  // namespace ff::distributed
