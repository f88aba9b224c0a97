// CUDA tensors through the communicators: MPI staging through the host (any number of ranks on
// one GPU) and the NCCL backend (one GPU per rank). Skipped, with the reason, in builds without
// CUDA and on machines without enough GPUs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "framework/distributed/communicator.h"
#include "ops/elementwise/binary.h"
#include "ops/shape/shape.h"
#include "tests/mpi_distributed/dist_test_util.h"

#ifdef FF_WITH_CUDA
#include <cuda_runtime_api.h>

#include "framework/cuda/cuda_runtime.h"
#include "framework/cuda/debug.h"
#include "framework/distributed/nccl_communicator.h"
#endif

namespace ff {
namespace {

using distributed::Communicator;
using distributed::ReduceOp;
using testing::det_tensor;
using testing::same_values;

Communicator& comm() { return distributed::world(); }

// Skips unless this build has CUDA and the machine at least `needed` devices.
#ifdef FF_WITH_CUDA
#define FF_REQUIRE_GPUS(needed)                                                                           \
  do {                                                                                                    \
    if (cuda::device_count() < (needed)) {                                                                \
      GTEST_SKIP() << "needs " << (needed) << " CUDA device(s), found " << cuda::device_count() << " ("    \
                   << cuda::unavailable_reason() << ")";                                                  \
    }                                                                                                     \
  } while (0)
#else
#define FF_REQUIRE_GPUS(needed) GTEST_SKIP() << "built without CUDA (FF_WITH_CUDA=OFF)"
#endif

#ifdef FF_WITH_CUDA
Device my_gpu() { return Device(DeviceType::CUDA, distributed::local_rank() % cuda::device_count()); }
#else
Device my_gpu() { return Device(); }
#endif

TEST(CudaTensors, MpiStagesThemThroughTheHost) {
  FF_REQUIRE_GPUS(1);
  const int w = comm().world_size(), me = comm().rank();
  Tensor t = det_tensor({5, 3}, me, DType::Float32).to(my_gpu());
  comm().all_reduce(t, ReduceOp::Sum);
  Tensor expected = zeros({5, 3});
  for (int r = 0; r < w; ++r) expected = add(expected, det_tensor({5, 3}, r, DType::Float32));
  EXPECT_EQ(t.device(), my_gpu());
  EXPECT_TRUE(same_values(t.to(Device()), expected));

  Tensor g = comm().all_gather(det_tensor({2, 4}, me, DType::Int64).to(my_gpu()));
  std::vector<Tensor> parts;
  for (int r = 0; r < w; ++r) parts.push_back(det_tensor({2, 4}, r, DType::Int64));
  EXPECT_EQ(g.device(), my_gpu());
  EXPECT_TRUE(same_values(g.to(Device()), concat(parts, 0)));

  Tensor h = det_tensor({9}, me, DType::Float16).to(my_gpu());
  comm().broadcast(h, 0);
  EXPECT_TRUE(same_values(h.to(Device()), det_tensor({9}, 0, DType::Float16)));
}

#ifdef FF_WITH_CUDA
// One NCCL communicator for the whole binary (creating one is collective and costly).
distributed::NcclCommunicator& nccl() {
  static std::unique_ptr<Communicator> c = distributed::create_communicator("nccl");
  return static_cast<distributed::NcclCommunicator&>(*c);
}
#endif

TEST(CudaTensors, NcclCollectivesMatchTheSingleProcessComputation) {
  FF_REQUIRE_GPUS(comm().world_size());
#ifdef FF_WITH_CUDA
  Communicator& nc = nccl();
  EXPECT_EQ(nc.backend_name(), "nccl");
  const int w = nc.world_size(), me = nc.rank();
  const Device gpu = my_gpu();
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64, DType::Float16}) {
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Avg}) {
      Tensor t = det_tensor({3, 7}, 10 + me, dtype).to(gpu);
      nc.all_reduce(t, op);
      std::vector<double> e = testing::vals(det_tensor({3, 7}, 10, dtype));
      for (int r = 1; r < w; ++r) {
        const auto v = testing::vals(det_tensor({3, 7}, 10 + r, dtype));
        for (size_t i = 0; i < e.size(); ++i) e[i] = op == ReduceOp::Max ? std::max(e[i], v[i]) : e[i] + v[i];
      }
      if (op == ReduceOp::Avg) {
        for (double& x : e) x = is_floating(dtype) ? x / w : std::trunc(x / w);
      }
      EXPECT_TRUE(same_values(t.to(Device()), tensor_from(e, {3, 7}), 1e-3))
          << dtype_name(dtype) << " " << distributed::reduce_op_name(op);
    }
  }
  std::vector<Tensor> parts, blocks, expected;
  for (int r = 0; r < w; ++r) parts.push_back(det_tensor({2, 3}, r));
  EXPECT_TRUE(same_values(nc.all_gather(det_tensor({2, 3}, me).to(gpu)).to(Device()), concat(parts, 0)));
  Tensor rs = nc.reduce_scatter(det_tensor({2 * w, 3}, me).to(gpu));
  Tensor full = det_tensor({2 * w, 3}, 0);
  for (int r = 1; r < w; ++r) full = add(full, det_tensor({2 * w, 3}, r));
  EXPECT_TRUE(same_values(rs.to(Device()), full.narrow(0, 2 * me, 2)));
  for (int j = 0; j < w; ++j) {
    blocks.push_back(det_tensor({j + 1, 2}, 100 * me + j));
    expected.push_back(det_tensor({me + 1, 2}, 100 * j + me));
  }
  std::vector<int64_t> send, recv(static_cast<size_t>(w), me + 1);
  for (int j = 0; j < w; ++j) send.push_back(j + 1);
  EXPECT_TRUE(same_values(nc.all_to_all_v(concat(blocks, 0).to(gpu), send, recv).to(Device()), concat(expected, 0)));
  Tensor b = det_tensor({6}, 50 + me, DType::Int64).to(gpu);
  nc.broadcast(b, w - 1);
  EXPECT_TRUE(same_values(b.to(Device()), det_tensor({6}, 50 + w - 1, DType::Int64)));
  nc.barrier();
#endif
}

TEST(CudaTensors, NcclAsyncAllReduceIsOrderedAgainstTheComputeStream) {
  FF_REQUIRE_GPUS(comm().world_size());
#ifdef FF_WITH_CUDA
  distributed::NcclCommunicator& nc = nccl();
  const Device gpu = my_gpu();
  cuda::DeviceGuard guard(gpu.index);
  // The input is written by a large async copy queued on a side stream; the collective must
  // wait for it (event), and a read queued there after wait() must see the result.
  cuda::Stream side(gpu.index);
  nc.set_compute_stream(side.get());
  const int64_t n = int64_t{32} << 20;  // 128 MiB of float32
  std::vector<float> src(static_cast<size_t>(n), 1.5f), back(static_cast<size_t>(n), 0.0f);
  Tensor z = Tensor::empty({n}, DType::Float32, gpu);
  ASSERT_EQ(cudaMemsetAsync(z.raw_data(), 0, static_cast<size_t>(n) * 4, side.get()), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(z.raw_data(), src.data(), static_cast<size_t>(n) * 4, cudaMemcpyHostToDevice, side.get()),
            cudaSuccess);
  auto work = nc.all_reduce(z, ReduceOp::Avg, /*async=*/true);
  work->wait();
  ASSERT_EQ(cudaMemcpyAsync(back.data(), z.raw_data(), static_cast<size_t>(n) * 4, cudaMemcpyDeviceToHost, side.get()),
            cudaSuccess);
  side.synchronize();
  EXPECT_TRUE(work->is_completed());
  int64_t wrong = 0;
  for (float v : back) wrong += v != 1.5f;
  EXPECT_EQ(wrong, 0);
  { auto dropped = nc.all_reduce(z, ReduceOp::Sum, true); }  // waits in its destructor
  side.synchronize();
  nc.set_compute_stream(nullptr);
#endif
}

// Polling a collective that has not finished (GradientReducer does it from the backward pass)
// must not leave cudaErrorNotReady behind as the thread's last error, where the next kernel's
// launch check would take it for a failure.
TEST(CudaTensors, PollingAnUnfinishedNcclCollectiveLeavesNoErrorBehind) {
  FF_REQUIRE_GPUS(comm().world_size());
#ifdef FF_WITH_CUDA
  distributed::NcclCommunicator& nc = nccl();
  const Device gpu = my_gpu();
  cuda::DeviceGuard guard(gpu.index);
  Tensor z = det_tensor({1024}, 7, DType::Float32).to(gpu);
  (void)mul(z, 2.0).to(Device());  // load the kernel now (lazy loading may wait for the device)
  cuda::busy_wait_on_stream(cuda::current_stream(gpu.index), 800.0);  // the collective queues behind it
  auto work = nc.all_reduce(z, ReduceOp::Sum, /*async=*/true);
  EXPECT_FALSE(work->is_completed());
  EXPECT_NO_THROW((void)mul(z, 2.0)) << "a kernel launch after polling failed on the poll's 'not ready'";
  work->wait();
  FF_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream(gpu.index)));
  EXPECT_TRUE(work->is_completed());
#endif
}

}  // namespace
}  // namespace ff
