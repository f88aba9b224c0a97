// CUDA gemm / matmul / linear (cuBLAS, cuBLASLt) and conv2d (cuDNN) against the CPU kernels,
// on odd shapes, transposed and offset operands, fp32 / fp16 / bf16 / fp64; the conv algorithm
// cache and the deterministic mode.
//
// Tolerances: inputs are identical (rounded to the dtype on the host); both sides accumulate in
// fp32 (fp64 for fp64) and round once, so they differ by the summation order plus at most one
// rounding of the output: fp32 2e-5 relative (TF32 off), fp16 4e-3, bf16 2e-2 (+ an absolute
// term scaled by the typical output magnitude).
#include <gtest/gtest.h>

#include "ops/common/gpu_math_config.h"
#include "ops/conv/conv2d.h"
#include "ops/linalg/matmul.h"
#include "ops/tensor_ops/copy.h"
#include "tests/cuda_nn/cuda_nn_test_util.h"
#ifdef FF_WITH_CUDA
#include "ops/conv/conv2d_cuda.h"
#endif

namespace ff {
namespace {

using namespace cuda_test;

// ---- matmul / linear ----------------------------------------------------------------------------------------
TEST(CudaMatmul, BatchedBroadcastAndTransposedOperandsMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : float_types()) {
    SCOPED_TRACE(dtype_name(dt));
    // a [3, 37, 29] @ b [29, 45]; b2 is a transposed view of a [45, 29] tensor (trans_b path);
    // a3 [2, 1, 5, 29] @ b3 [3, 29, 7] broadcasts the batch dims both ways (one GEMM per entry).
    const Tensor a = rand_cpu({3, 37, 29}, 1, dt), b = rand_cpu({29, 45}, 2, dt);
    const Tensor bt_store = rand_cpu({45, 29}, 3, dt);
    const Tensor a3 = rand_cpu({2, 1, 5, 29}, 4, dt), b3 = rand_cpu({3, 29, 7}, 5, dt);
    const Tol tol = tol_for(dt, 3.0);
    struct Case {
      Tensor a, b;
      bool transpose_b;
    };
    for (const Case& c : {Case{a, b, false}, Case{a, bt_store, true}, Case{a3, b3, false}}) {
      const Tensor cb = c.transpose_b ? c.b.t() : c.b;
      Shape batch = c.a.dim() > c.b.dim() ? Shape(c.a.sizes().begin(), c.a.sizes().end() - 2)
                                          : Shape(c.b.sizes().begin(), c.b.sizes().end() - 2);
      if (c.a.dim() == 4) batch = {2, 3};
      Shape out_shape = batch;
      out_shape.push_back(c.a.size(-2));
      out_shape.push_back(cb.size(-1));
      Tensor ref = empty_cpu(out_shape, dt), got = empty_gpu(out_shape, dt);
      run<MatmulKernel>("matmul", DeviceType::CPU, dt, ref, c.a, cb);
      const Tensor gb = c.transpose_b ? to_gpu(c.b).t() : to_gpu(c.b);
      run<MatmulKernel>("matmul", DeviceType::CUDA, dt, got, to_gpu(c.a), gb);
      EXPECT_TRUE(close(got, ref, tol.atol, tol.rtol, "matmul " + shape_str(out_shape)));
    }
  }
}

TEST(CudaMatmul, EmptyInnerDimensionGivesZeros) {
  FF_SKIP_WITHOUT_CUDA();
  const Tensor a = to_gpu(zeros({5, 0})), b = to_gpu(zeros({0, 7}));
  Tensor out = empty_gpu({5, 7}, DType::Float32);
  run<MatmulKernel>("matmul", DeviceType::CUDA, DType::Float32, out, a, b);
  EXPECT_TRUE(close(out, zeros({5, 7}), 0.0, 0.0, "k == 0"));
}

TEST(CudaLinear, BiasEpilogueAndFallbackPathsMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : float_types()) {
    SCOPED_TRACE(dtype_name(dt));
    const Tensor x = rand_cpu({33, 70}, 11, dt), w = rand_cpu({50, 70}, 12, dt), bias = rand_cpu({50}, 13, dt);
    const Tol tol = tol_for(dt, 5.0);
    Tensor ref = empty_cpu({33, 50}, dt);
    run<LinearKernel>("linear", DeviceType::CPU, dt, ref, x, w, bias);
    // Dense operands: cuBLASLt with the BIAS epilogue (fp32/fp16/bf16), cuBLAS + bias kernel (fp64).
    Tensor got = empty_gpu({33, 50}, dt);
    run<LinearKernel>("linear", DeviceType::CUDA, dt, got, to_gpu(x), to_gpu(w), to_gpu(bias));
    EXPECT_TRUE(close(got, ref, tol.atol, tol.rtol, "linear dense"));
    // x as a transposed view: the fallback path (GEMM with trans_a, then the bias kernel).
    const Tensor xt_gpu = to_gpu(x.t().contiguous()).t();
    Tensor got_t = empty_gpu({33, 50}, dt);
    run<LinearKernel>("linear", DeviceType::CUDA, dt, got_t, xt_gpu, to_gpu(w), to_gpu(bias));
    EXPECT_TRUE(close(got_t, ref, tol.atol, tol.rtol, "linear transposed x"));
    // x starting one element into its storage (a pointer only 2- or 4-byte aligned).
    const Tensor x_big = rand_cpu({34 * 70 + 1}, 14, dt);
    const Tensor x_off_cpu = x_big.slice(0, 1, 1 + 33 * 70).view({33, 70});
    Tensor ref_off = empty_cpu({33, 50}, dt), got_off = empty_gpu({33, 50}, dt);
    run<LinearKernel>("linear", DeviceType::CPU, dt, ref_off, x_off_cpu, w, bias);
    const Tensor x_off_gpu = to_gpu(x_big).slice(0, 1, 1 + 33 * 70).view({33, 70});
    run<LinearKernel>("linear", DeviceType::CUDA, dt, got_off, x_off_gpu, to_gpu(w), to_gpu(bias));
    EXPECT_TRUE(close(got_off, ref_off, tol.atol, tol.rtol, "linear misaligned x"));
    // No bias.
    Tensor ref_nb = empty_cpu({33, 50}, dt), got_nb = empty_gpu({33, 50}, dt);
    run<LinearKernel>("linear", DeviceType::CPU, dt, ref_nb, x, w, Tensor());
    run<LinearKernel>("linear", DeviceType::CUDA, dt, got_nb, to_gpu(x), to_gpu(w), Tensor());
    EXPECT_TRUE(close(got_nb, ref_nb, tol.atol, tol.rtol, "linear without bias"));
  }
}

// ---- conv2d ---------------------------------------------------------------------------------------------------
struct ConvCase {
  Shape x, w;
  Conv2dParams p;
  const char* name;
};

std::vector<ConvCase> conv_cases() {
  std::vector<ConvCase> cs;
  ConvCase a{{2, 3, 11, 9}, {5, 3, 3, 3}, {}, "3x3 stride 2 pad 1"};
  a.p.stride = {2, 2};
  a.p.padding = {1, 1};
  cs.push_back(a);
  ConvCase b{{2, 4, 10, 13}, {6, 2, 3, 2}, {}, "grouped, dilated, asymmetric"};
  b.p.groups = 2;
  b.p.dilation = {2, 1};
  b.p.padding = {2, 0};
  cs.push_back(b);
  ConvCase c{{3, 8, 9, 9}, {8, 1, 3, 3}, {}, "depthwise 3x3 pad 1"};
  c.p.groups = 8;
  c.p.padding = {1, 1};
  cs.push_back(c);
  cs.push_back(ConvCase{{2, 16, 7, 5}, {12, 16, 1, 1}, {}, "pointwise"});
  return cs;
}

void check_conv_case(const ConvCase& c, DType dt) {
  SCOPED_TRACE(std::string(c.name) + " " + dtype_name(dt));
  const Tensor x = rand_cpu(c.x, 21, dt), w = rand_cpu(c.w, 22, dt), bias = rand_cpu({c.w[0]}, 23, dt);
  const Shape out_shape = conv2d_output_shape(x, w, bias, c.p);
  const int64_t fan_in = c.w[1] * c.w[2] * c.w[3];
  const Tol tol = tol_for(dt, std::sqrt(static_cast<double>(fan_in)));
  Tensor ref = empty_cpu(out_shape, dt), got = empty_gpu(out_shape, dt);
  run<Conv2dKernel>("conv2d", DeviceType::CPU, dt, ref, x, w, bias, c.p);
  run<Conv2dKernel>("conv2d", DeviceType::CUDA, dt, got, to_gpu(x), to_gpu(w), to_gpu(bias), c.p);
  EXPECT_TRUE(close(got, ref, tol.atol, tol.rtol, "forward"));

  const Tensor g = rand_cpu(out_shape, 24, dt);
  Tensor gx_ref = empty_cpu(c.x, dt), gx = empty_gpu(c.x, dt);
  run<Conv2dBackwardInputKernel>("conv2d_backward_input", DeviceType::CPU, dt, gx_ref, g, w, c.p);
  run<Conv2dBackwardInputKernel>("conv2d_backward_input", DeviceType::CUDA, dt, gx, to_gpu(g), to_gpu(w), c.p);
  const int64_t fan_out = c.w[0] / c.p.groups * c.w[2] * c.w[3];
  const Tol tol_x = tol_for(dt, std::sqrt(static_cast<double>(fan_out)));
  EXPECT_TRUE(close(gx, gx_ref, tol_x.atol, tol_x.rtol, "backward input"));

  Tensor gw_ref = empty_cpu(c.w, dt), gw = empty_gpu(c.w, dt);
  run<Conv2dBackwardWeightKernel>("conv2d_backward_weight", DeviceType::CPU, dt, gw_ref, g, x, c.p);
  run<Conv2dBackwardWeightKernel>("conv2d_backward_weight", DeviceType::CUDA, dt, gw, to_gpu(g), to_gpu(x), c.p);
  const double terms = static_cast<double>(out_shape[0] * out_shape[2] * out_shape[3]);
  const Tol tol_w = tol_for(dt, std::sqrt(terms));
  EXPECT_TRUE(close(gw, gw_ref, tol_w.atol, tol_w.rtol, "backward weight"));
}

TEST(CudaConv2d, ForwardAndBackwardMatchCpuFp32AndFp64) {
  FF_SKIP_WITHOUT_CUDA();
  for (const ConvCase& c : conv_cases()) {
    check_conv_case(c, DType::Float32);
    check_conv_case(c, DType::Float64);
  }
}

TEST(CudaConv2d, ForwardAndBackwardMatchCpuFp16AndBf16OnTensorCores) {
  FF_SKIP_WITHOUT_CUDA();
  for (const ConvCase& c : conv_cases()) {
    check_conv_case(c, DType::Float16);
    check_conv_case(c, DType::BFloat16);
  }
}

TEST(CudaConv2d, EmptyBatchAndZeroInputChannelsAreHandled) {
  FF_SKIP_WITHOUT_CUDA();
  // No input channels: the output is the bias broadcast.
  Conv2dParams p;
  const Tensor x = zeros({2, 0, 5, 5}), w = zeros({3, 0, 3, 3}), bias = rand_cpu({3}, 31);
  Tensor got = empty_gpu({2, 3, 3, 3}, DType::Float32), ref = empty_cpu({2, 3, 3, 3}, DType::Float32);
  copy_into(ref, bias.view({1, 3, 1, 1}));  // every output position holds its channel's bias
  run<Conv2dKernel>("conv2d", DeviceType::CUDA, DType::Float32, got, to_gpu(x), to_gpu(w), to_gpu(bias), p);
  EXPECT_TRUE(close(got, ref, 0.0, 0.0, "bias only"));
  // Empty batch: nothing to write, nothing to fail.
  Tensor empty_out = empty_gpu({0, 3, 3, 3}, DType::Float32);
  run<Conv2dKernel>("conv2d", DeviceType::CUDA, DType::Float32, empty_out, to_gpu(zeros({0, 2, 5, 5})),
                    to_gpu(rand_cpu({3, 2, 3, 3}, 32)), Tensor(), p);
  Tensor gw = empty_gpu({3, 2, 3, 3}, DType::Float32);
  run<Conv2dBackwardWeightKernel>("conv2d_backward_weight", DeviceType::CUDA, DType::Float32, gw,
                                  to_gpu(zeros({0, 3, 3, 3})), to_gpu(zeros({0, 2, 5, 5})), p);
  EXPECT_TRUE(close(gw, zeros({3, 2, 3, 3}), 0.0, 0.0, "empty batch weight gradient"));
}

TEST(CudaConv2d, AlgorithmCacheIsHitForARepeatedShape) {
  FF_SKIP_WITHOUT_CUDA();
#ifdef FF_WITH_CUDA
  cuda_conv::clear_algo_cache();
  Conv2dParams p;
  p.padding = {1, 1};
  const Tensor x = to_gpu(rand_cpu({4, 8, 14, 14}, 41)), w = to_gpu(rand_cpu({16, 8, 3, 3}, 42));
  Tensor out = empty_gpu({4, 16, 14, 14}, DType::Float32);
  run<Conv2dKernel>("conv2d", DeviceType::CUDA, DType::Float32, out, x, w, Tensor(), p);
  const cuda_conv::AlgoCacheStats first = cuda_conv::algo_cache_stats();
  EXPECT_EQ(first.misses, 1);
  EXPECT_EQ(first.hits, 0);
  EXPECT_EQ(first.entries, 1);
  const Tensor before = to_host(out);
  for (int i = 0; i < 3; ++i) run<Conv2dKernel>("conv2d", DeviceType::CUDA, DType::Float32, out, x, w, Tensor(), p);
  const cuda_conv::AlgoCacheStats again = cuda_conv::algo_cache_stats();
  EXPECT_EQ(again.misses, 1);
  EXPECT_EQ(again.hits, 3);
  EXPECT_TRUE(bit_equal(out, before, "same algorithm, same bits"));
  // Another dtype, another shape, or the deterministic mode are separate entries.
  Tensor out16 = empty_gpu({4, 16, 14, 14}, DType::Float16);
  run<Conv2dKernel>("conv2d", DeviceType::CUDA, DType::Float16, out16, to_gpu(to_host(x).to(DType::Float16)),
                    to_gpu(to_host(w).to(DType::Float16)), Tensor(), p);
  {
    gpu::DeterministicGuard det(true);
    run<Conv2dKernel>("conv2d", DeviceType::CUDA, DType::Float32, out, x, w, Tensor(), p);
  }
  EXPECT_EQ(cuda_conv::algo_cache_stats().entries, 3);
  EXPECT_EQ(cuda_conv::algo_cache_stats().misses, 3);
#endif
}

TEST(CudaConv2d, DeterministicModeRepeatsBitForBit) {
  FF_SKIP_WITHOUT_CUDA();
  gpu::DeterministicGuard det(true);
  for (DType dt : {DType::Float32, DType::Float16}) {
    SCOPED_TRACE(dtype_name(dt));
    Conv2dParams p;
    p.padding = {1, 1};
    p.stride = {2, 2};
    // Big enough that non-deterministic (atomic) algorithms would be candidates.
    const Tensor x = to_gpu(rand_cpu({16, 32, 28, 28}, 51, dt)), w = to_gpu(rand_cpu({64, 32, 3, 3}, 52, dt));
    const Tensor g = to_gpu(rand_cpu({16, 64, 14, 14}, 53, dt));
    Tensor gw1 = empty_gpu({64, 32, 3, 3}, dt), gw2 = empty_gpu({64, 32, 3, 3}, dt);
    Tensor gx1 = empty_gpu({16, 32, 28, 28}, dt), gx2 = empty_gpu({16, 32, 28, 28}, dt);
    run<Conv2dBackwardWeightKernel>("conv2d_backward_weight", DeviceType::CUDA, dt, gw1, g, x, p);
    run<Conv2dBackwardWeightKernel>("conv2d_backward_weight", DeviceType::CUDA, dt, gw2, g, x, p);
    run<Conv2dBackwardInputKernel>("conv2d_backward_input", DeviceType::CUDA, dt, gx1, g, w, p);
    run<Conv2dBackwardInputKernel>("conv2d_backward_input", DeviceType::CUDA, dt, gx2, g, w, p);
    EXPECT_TRUE(bit_equal(gw1, gw2, "weight gradient"));
    EXPECT_TRUE(bit_equal(gx1, gx2, "input gradient"));
    // And still correct.
    Tensor gw_ref = empty_cpu({64, 32, 3, 3}, dt);
    run<Conv2dBackwardWeightKernel>("conv2d_backward_weight", DeviceType::CPU, dt, gw_ref, to_host(g), to_host(x), p);
    const Tol tol = tol_for(dt, std::sqrt(16.0 * 14 * 14));
    EXPECT_TRUE(close(gw1, gw_ref, tol.atol, tol.rtol, "deterministic weight gradient vs cpu"));
  }
}

}  // namespace
}  // namespace ff
