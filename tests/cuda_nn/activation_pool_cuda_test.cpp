// CUDA relu / prelu / dropout and max / avg / global-avg pooling against the CPU kernels.
//
// relu, dropout and pooling are exact: the GPU kernels do the same operations in the same
// order as the CPU (pool backwards gather in the CPU's accumulation order), so results are
// compared bit for bit. prelu's weight gradient sums in a different order: tol_for().
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ops/activation/activation.h"
#include "ops/pool/pool.h"
#include "tests/cuda_nn/cuda_nn_test_util.h"

namespace ff {
namespace {

using namespace cuda_test;

// ---- relu ---------------------------------------------------------------------------------------------------------
TEST(CudaRelu, StridedInputsExpandedGradsAndNanMatchCpuExactly) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : float_types()) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor base = rand_cpu({6, 9, 5}, 900, dt);
    base.select(0, 2).select(0, 3).fill_(std::nan(""));
    // A permuted (non-contiguous) view on both devices.
    const Tensor x_cpu = base.permute({2, 0, 1});
    const Tensor x_gpu = to_gpu(base).permute({2, 0, 1});
    Tensor y = empty_cpu(x_cpu.sizes(), dt), y_g = empty_gpu(x_cpu.sizes(), dt);
    run<ReluKernel>("relu", DeviceType::CPU, dt, y, x_cpu);
    run<ReluKernel>("relu", DeviceType::CUDA, dt, y_g, x_gpu);
    EXPECT_TRUE(bit_equal(y_g, y, "relu forward"));
    // grad_out expanded from one row (stride 0 in dim 0), as a sum's backward produces.
    const Tensor g_row = rand_cpu({1, 6, 9}, 901, dt);
    const Tensor g_cpu = g_row.expand({5, 6, 9});
    const Tensor g_gpu = to_gpu(g_row).expand({5, 6, 9});
    Tensor gx = empty_cpu({5, 6, 9}, dt), gx_g = empty_gpu({5, 6, 9}, dt);
    run<ReluBackwardKernel>("relu_backward", DeviceType::CPU, dt, gx, g_cpu, y);
    run<ReluBackwardKernel>("relu_backward", DeviceType::CUDA, dt, gx_g, g_gpu, y_g);
    EXPECT_TRUE(bit_equal(gx_g, gx, "relu backward"));
  }
}

// ---- prelu --------------------------------------------------------------------------------------------------------
TEST(CudaPrelu, PerChannelAndSharedWeightsMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : float_types()) {
    SCOPED_TRACE(dtype_name(dt));
    struct Case {
      Shape shape;
      int64_t weights;
    };
    for (const Case& c : {Case{{4, 7, 5, 3}, 7}, Case{{4, 7, 5, 3}, 1}, Case{{130, 512}, 512}, Case{{64, 3, 60, 60}, 3}}) {
      SCOPED_TRACE(shape_str(c.shape) + " weights " + std::to_string(c.weights));
      const Tensor x = rand_cpu(c.shape, 1000, dt), w = rand_cpu({c.weights}, 1001, dt, 0.0, 0.5);
      Tensor y = empty_cpu(c.shape, dt), y_g = empty_gpu(c.shape, dt);
      run<PreluKernel>("prelu", DeviceType::CPU, dt, y, x, w);
      run<PreluKernel>("prelu", DeviceType::CUDA, dt, y_g, to_gpu(x), to_gpu(w));
      EXPECT_TRUE(bit_equal(y_g, y, "prelu forward"));
      const Tensor g = rand_cpu(c.shape, 1002, dt);
      Tensor gx = empty_cpu(c.shape, dt), gw = empty_cpu({c.weights}, dt);
      Tensor gx_g = empty_gpu(c.shape, dt), gw_g = empty_gpu({c.weights}, dt);
      run<PreluBackwardKernel>("prelu_backward", DeviceType::CPU, dt, gx, gw, g, x, w);
      run<PreluBackwardKernel>("prelu_backward", DeviceType::CUDA, dt, gx_g, gw_g, to_gpu(g), to_gpu(x), to_gpu(w));
      EXPECT_TRUE(bit_equal(gx_g, gx, "prelu grad_x"));
      const double terms = static_cast<double>(x.numel() / c.weights);
      const Tol tol = tol_for(dt, std::sqrt(terms));
      EXPECT_TRUE(close(gw_g, gw, tol.atol, std::max(tol.rtol, 1e-9), "prelu grad_weight"));
      // grad_x alone (no weight gradient requested).
      Tensor gx_only = empty_gpu(c.shape, dt);
      run<PreluBackwardKernel>("prelu_backward", DeviceType::CUDA, dt, gx_only, Tensor(), to_gpu(g), to_gpu(x), to_gpu(w));
      EXPECT_TRUE(bit_equal(gx_only, gx, "prelu grad_x only"));
    }
  }
}

// ---- dropout ------------------------------------------------------------------------------------------------------
TEST(CudaDropout, MasksAndValuesAreBitIdenticalToTheCpu) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : float_types()) {
    SCOPED_TRACE(dtype_name(dt));
    for (int64_t n : {1, 7, 4097, 100003}) {
      for (double p : {0.1, 0.5, 0.9}) {
        const Tensor x = rand_cpu({n}, 1100 + n, dt);
        const uint64_t seed = 0x1234abcdULL + static_cast<uint64_t>(n), counter = 77;
        Tensor y = empty_cpu({n}, dt), y_g = empty_gpu({n}, dt);
        run<DropoutKernel>("dropout", DeviceType::CPU, dt, y, x, seed, counter, p);
        run<DropoutKernel>("dropout", DeviceType::CUDA, dt, y_g, to_gpu(x), seed, counter, p);
        EXPECT_TRUE(bit_equal(y_g, y, "dropout n=" + std::to_string(n) + " p=" + std::to_string(p)));
        Tensor gb = empty_gpu({n}, dt), gb_cpu = empty_cpu({n}, dt);
        run<DropoutKernel>("dropout_backward", DeviceType::CPU, dt, gb_cpu, x, seed, counter, p);
        run<DropoutKernel>("dropout_backward", DeviceType::CUDA, dt, gb, to_gpu(x), seed, counter, p);
        EXPECT_TRUE(bit_equal(gb, gb_cpu, "dropout backward"));
      }
    }
  }
}

// ---- pooling ------------------------------------------------------------------------------------------------------
struct PoolCase {
  Shape x;
  Pool2dParams p;
};

std::vector<PoolCase> pool_cases() {
  std::vector<PoolCase> cs;
  PoolCase a{{2, 3, 9, 11}, {}};
  a.p.kernel = {3, 3};
  a.p.stride = {2, 2};
  a.p.padding = {1, 1};
  cs.push_back(a);
  PoolCase b{{1, 2, 8, 7}, {}};
  b.p.kernel = {2, 3};
  b.p.stride = {2, 2};
  b.p.ceil_mode = true;
  cs.push_back(b);
  PoolCase c{{3, 4, 6, 6}, {}};
  c.p.kernel = {2, 2};
  c.p.stride = {1, 1};  // overlapping windows
  cs.push_back(c);
  return cs;
}

Shape pool_out_shape(const PoolCase& c) {
  return {c.x[0], c.x[1], pool_output_size(c.x[2], c.p.kernel[0], c.p.stride[0], c.p.padding[0], c.p.ceil_mode),
          pool_output_size(c.x[3], c.p.kernel[1], c.p.stride[1], c.p.padding[1], c.p.ceil_mode)};
}

TEST(CudaPool, MaxPoolForwardIndicesAndBackwardMatchCpuExactly) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : float_types()) {
    SCOPED_TRACE(dtype_name(dt));
    for (const PoolCase& c : pool_cases()) {
      SCOPED_TRACE(shape_str(c.x));
      // Coarse values force ties (the first maximum must win) and a NaN must propagate.
      Tensor x = rand_cpu(c.x, 1200, DType::Float32, 0.0, 4.0);
      x = tensor_from(to_vector<double>(x), c.x);
      std::vector<double> v = to_vector<double>(x);
      for (double& e : v) e = std::floor(e);
      v[5] = std::nan("");
      x = tensor_from(v, c.x).to(dt);
      const Shape os = pool_out_shape(c);
      Tensor y = empty_cpu(os, dt), idx = empty_cpu(os, DType::Int64);
      Tensor y_g = empty_gpu(os, dt), idx_g = empty_gpu(os, DType::Int64);
      run<MaxPool2dKernel>("max_pool2d", DeviceType::CPU, dt, y, idx, x, c.p);
      run<MaxPool2dKernel>("max_pool2d", DeviceType::CUDA, dt, y_g, idx_g, to_gpu(x), c.p);
      EXPECT_TRUE(bit_equal(y_g, y, "max values"));
      EXPECT_TRUE(bit_equal(idx_g, idx, "max indices"));
      const Tensor g = rand_cpu(os, 1201, dt);
      Tensor gx = empty_cpu(c.x, dt), gx_g = empty_gpu(c.x, dt);
      run<MaxPool2dBackwardKernel>("max_pool2d_backward", DeviceType::CPU, dt, gx, g, idx, c.p);
      run<MaxPool2dBackwardKernel>("max_pool2d_backward", DeviceType::CUDA, dt, gx_g, to_gpu(g), idx_g, c.p);
      EXPECT_TRUE(bit_equal(gx_g, gx, "max backward"));
    }
  }
}

TEST(CudaPool, AvgPoolBothPaddingModesMatchCpuExactly) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : float_types()) {
    SCOPED_TRACE(dtype_name(dt));
    for (const PoolCase& c : pool_cases()) {
      for (bool include_pad : {true, false}) {
        SCOPED_TRACE(shape_str(c.x) + (include_pad ? " count_include_pad" : ""));
        const Tensor x = rand_cpu(c.x, 1300, dt);
        const Shape os = pool_out_shape(c);
        Tensor y = empty_cpu(os, dt), y_g = empty_gpu(os, dt);
        run<AvgPool2dKernel>("avg_pool2d", DeviceType::CPU, dt, y, x, c.p, include_pad);
        run<AvgPool2dKernel>("avg_pool2d", DeviceType::CUDA, dt, y_g, to_gpu(x), c.p, include_pad);
        EXPECT_TRUE(bit_equal(y_g, y, "avg forward"));
        const Tensor g = rand_cpu(os, 1301, dt);
        Tensor gx = empty_cpu(c.x, dt), gx_g = empty_gpu(c.x, dt);
        run<AvgPool2dBackwardKernel>("avg_pool2d_backward", DeviceType::CPU, dt, gx, g, c.p, include_pad);
        run<AvgPool2dBackwardKernel>("avg_pool2d_backward", DeviceType::CUDA, dt, gx_g, to_gpu(g), c.p, include_pad);
        EXPECT_TRUE(bit_equal(gx_g, gx, "avg backward"));
      }
    }
  }
}

TEST(CudaPool, GlobalAvgPoolMatchesCpu) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : float_types()) {
    SCOPED_TRACE(dtype_name(dt));
    for (const Shape& s : {Shape{2, 5, 7, 7}, Shape{3, 512, 1, 1}, Shape{1, 3, 45, 61}}) {
      const Tensor x = rand_cpu(s, 1400, dt);
      Tensor y = empty_cpu({s[0], s[1], 1, 1}, dt), y_g = empty_gpu({s[0], s[1], 1, 1}, dt);
      run<GlobalAvgPool2dKernel>("global_avg_pool2d", DeviceType::CPU, dt, y, x);
      run<GlobalAvgPool2dKernel>("global_avg_pool2d", DeviceType::CUDA, dt, y_g, to_gpu(x));
      // Both sum in double; only the summation order differs (at most one rounding apart).
      const Tol tol = tol_for(dt);
      EXPECT_TRUE(close(y_g, y, tol.atol, tol.rtol, "global avg forward"));
      const Tensor g = rand_cpu({s[0], s[1], 1, 1}, 1401, dt);
      Tensor gx = empty_cpu(s, dt), gx_g = empty_gpu(s, dt);
      run<GlobalAvgPool2dBackwardKernel>("global_avg_pool2d_backward", DeviceType::CPU, dt, gx, g);
      run<GlobalAvgPool2dBackwardKernel>("global_avg_pool2d_backward", DeviceType::CUDA, dt, gx_g, to_gpu(g));
      EXPECT_TRUE(bit_equal(gx_g, gx, "global avg backward"));
    }
  }
}

}  // namespace
}  // namespace ff
