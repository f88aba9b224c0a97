#include "framework/distributed/routing_communicator.h"

#include "framework/common/check.h"

namespace ff::distributed {

RoutingCommunicator::RoutingCommunicator(Communicator& host, std::unique_ptr<Communicator> device)
    : host_(host), device_(std::move(device)) {
  FF_CHECK(device_ != nullptr, "RoutingCommunicator: no device communicator given");
  FF_CHECK(device_->rank() == host_.rank() && device_->world_size() == host_.world_size(),
           "RoutingCommunicator: the {} communicator is rank {} of {} but the {} communicator is rank {} of {}",
           device_->backend_name(), device_->rank(), device_->world_size(), host_.backend_name(), host_.rank(),
           host_.world_size());
}

std::string RoutingCommunicator::backend_name() const {
  return device_->backend_name() + "+" + host_.backend_name();
}

void RoutingCommunicator::abort(const std::string& message) {
  host_.abort(message);
  // Not reached: every backend's abort ends the job. The compiler cannot see that through the
  // virtual call, and a [[noreturn]] function must not return.
  fatal_error(message);
}

Communicator& RoutingCommunicator::route(const Tensor& t) {
  // An undefined tensor goes to the host backend, whose argument check names the problem.
  return t.defined() && t.device().type == DeviceType::CUDA ? *device_ : host_;
}

std::shared_ptr<Work> RoutingCommunicator::all_reduce(const Tensor& t, ReduceOp op, bool async) {
  return route(t).all_reduce(t, op, async);
}
Tensor RoutingCommunicator::all_gather(const Tensor& in) { return route(in).all_gather(in); }
Tensor RoutingCommunicator::reduce_scatter(const Tensor& in, ReduceOp op) { return route(in).reduce_scatter(in, op); }
void RoutingCommunicator::broadcast(const Tensor& t, int root) { route(t).broadcast(t, root); }
Tensor RoutingCommunicator::all_to_all(const Tensor& in) { return route(in).all_to_all(in); }

Tensor RoutingCommunicator::all_gather_v(const Tensor& in, const std::vector<int64_t>& counts) {
  return route(in).all_gather_v(in, counts);
}
Tensor RoutingCommunicator::reduce_scatter_v(const Tensor& in, const std::vector<int64_t>& counts, ReduceOp op) {
  return route(in).reduce_scatter_v(in, counts, op);
}
Tensor RoutingCommunicator::all_to_all_v(const Tensor& in, const std::vector<int64_t>& send_counts,
                                         const std::vector<int64_t>& recv_counts) {
  return route(in).all_to_all_v(in, send_counts, recv_counts);
}

}  // namespace ff::distributed
