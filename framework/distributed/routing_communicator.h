// A communicator that sends each collective to the backend that owns the tensor's memory:
// CUDA tensors to a device communicator (NCCL), everything else to the host communicator (MPI).
//
// A training job mixes both kinds: gradients, embeddings and Partial FC logits live on the GPU
// (NCCL, no host staging), while small control values (a "was any gradient non-finite" flag,
// log counters, checkpoint bookkeeping) are CPU tensors that NCCL cannot take. Both
// communicators must span the same processes with the same ranks (the NCCL one is bootstrapped
// through the host one, create_communicator("nccl")), so the caller sees one communicator.
//
//   auto comm = distributed::RoutingCommunicator(distributed::world(),
//                                                distributed::create_communicator("nccl", device));
//
// barrier() and abort() go to the host communicator. Every rank must route a collective the
// same way, which holds when all ranks pass tensors on the same device type (the usual SPMD
// program); a mismatch is caught by the backends' argument checks before communicating.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "framework/distributed/communicator.h"

namespace ff::distributed {

class RoutingCommunicator final : public Communicator {
 public:
  // `host` must outlive this object; `device` is owned. Throws ff::Error when their rank or
  // world size differ.
  RoutingCommunicator(Communicator& host, std::unique_ptr<Communicator> device);

  int rank() const override { return host_.rank(); }
  int world_size() const override { return host_.world_size(); }
  std::string backend_name() const override;  // e.g. "nccl+mpi"
  int local_rank() const override { return host_.local_rank(); }

  std::shared_ptr<Work> all_reduce(const Tensor& t, ReduceOp op = ReduceOp::Sum, bool async = false) override;
  Tensor all_gather(const Tensor& in) override;
  Tensor reduce_scatter(const Tensor& in, ReduceOp op = ReduceOp::Sum) override;
  void broadcast(const Tensor& t, int root) override;
  Tensor all_to_all(const Tensor& in) override;
  void barrier() override { host_.barrier(); }
  [[noreturn]] void abort(const std::string& message) override;

  Tensor all_gather_v(const Tensor& in, const std::vector<int64_t>& counts) override;
  Tensor reduce_scatter_v(const Tensor& in, const std::vector<int64_t>& counts, ReduceOp op = ReduceOp::Sum) override;
  Tensor all_to_all_v(const Tensor& in, const std::vector<int64_t>& send_counts,
                      const std::vector<int64_t>& recv_counts) override;

  Communicator& host() { return host_; }
  Communicator& device() { return *device_; }

 private:
  // The communicator for a tensor: the device one for CUDA tensors, the host one otherwise.
  Communicator& route(const Tensor& t);

  Communicator& host_;
  std::unique_ptr<Communicator> device_;
};

}  // namespace ff::distributed
