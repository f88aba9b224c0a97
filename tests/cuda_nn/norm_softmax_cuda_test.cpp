// CUDA batch_norm, l2_normalize, softmax / log_softmax and cross_entropy against the CPU kernels,
// forward and backward, fp32 / fp16 / bf16 / fp64, odd shapes, reductions along inner and outer
// dims, special values (-inf, NaN, zero rows) and target validation.
//
// Tolerances: elementwise results use tol_for(dtype, magnitude) (one output rounding plus a
// different summation order). Statistics (batch-norm means, invstd, running stats, weight and
// bias gradients) are float32 on both sides for 16-bit inputs: relative 1e-4 (the CPU sums in
// double, the GPU in float partials added in double), 1e-10 for float64.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ops/norm/batch_norm.h"
#include "ops/norm/l2_normalize.h"
#include "ops/softmax/softmax.h"
#include "tests/cuda_nn/cuda_nn_test_util.h"

namespace ff {
namespace {

using namespace cuda_test;

Tol stat_tol(DType dt, double magnitude = 1.0) {
  return dt == DType::Float64 ? Tol{1e-10 * magnitude, 1e-10} : Tol{1e-4 * magnitude, 1e-4};
}

Tensor clone_gpu(const Tensor& t) { return t.defined() ? to_gpu(t) : Tensor(); }

// ---- batch norm -------------------------------------------------------------------------------------------------
void check_batch_norm(const Shape& shape, DType dt, bool affine, bool training, uint64_t seed) {
  SCOPED_TRACE(shape_str(shape) + " " + dtype_name(dt) + (affine ? " affine" : "") + (training ? " train" : " eval"));
  const int64_t c = shape[1];
  const DType stat = batch_norm_stat_dtype(dt);
  const Tensor x = rand_cpu(shape, seed, dt, -2.0, 3.0);  // mean far from 0: tests the shifted sums
  const Tensor w = affine ? rand_cpu({c}, seed + 1, stat, 0.5, 1.5) : Tensor();
  const Tensor b = affine ? rand_cpu({c}, seed + 2, stat) : Tensor();
  const Tensor rm_cpu = rand_cpu({c}, seed + 3, stat), rv_cpu = rand_cpu({c}, seed + 4, stat, 0.5, 2.0);
  const Tensor rm_gpu = to_gpu(rm_cpu), rv_gpu = to_gpu(rv_cpu);
  Tensor out = empty_cpu(shape, dt), mean = empty_cpu({c}, stat), invstd = empty_cpu({c}, stat);
  Tensor out_g = empty_gpu(shape, dt), mean_g = empty_gpu({c}, stat), invstd_g = empty_gpu({c}, stat);
  run<BatchNormKernel>("batch_norm", DeviceType::CPU, dt, out, mean, invstd, x, w, b, rm_cpu, rv_cpu, training, 0.1,
                       1e-5);
  run<BatchNormKernel>("batch_norm", DeviceType::CUDA, dt, out_g, mean_g, invstd_g, to_gpu(x), clone_gpu(w),
                       clone_gpu(b), rm_gpu, rv_gpu, training, 0.1, 1e-5);
  const Tol t_out = tol_for(dt, 4.0), t_stat = stat_tol(dt, 2.0);
  EXPECT_TRUE(close(out_g, out, t_out.atol, t_out.rtol, "out"));
  EXPECT_TRUE(close(mean_g, mean, t_stat.atol, t_stat.rtol, "save_mean"));
  EXPECT_TRUE(close(invstd_g, invstd, t_stat.atol, t_stat.rtol, "save_invstd"));
  EXPECT_TRUE(close(rm_gpu, rm_cpu, t_stat.atol, t_stat.rtol, "running_mean"));
  EXPECT_TRUE(close(rv_gpu, rv_cpu, t_stat.atol, t_stat.rtol, "running_var"));

  // Backward from each device's own saved statistics.
  const Tensor g = rand_cpu(shape, seed + 5, dt);
  Tensor gx = empty_cpu(shape, dt), gw = affine ? empty_cpu({c}, stat) : Tensor(), gb = empty_cpu({c}, stat);
  Tensor gx_g = empty_gpu(shape, dt), gw_g = affine ? empty_gpu({c}, stat) : Tensor(), gb_g = empty_gpu({c}, stat);
  run<BatchNormBackwardKernel>("batch_norm_backward", DeviceType::CPU, dt, gx, gw, gb, g, x, w, mean, invstd, training);
  run<BatchNormBackwardKernel>("batch_norm_backward", DeviceType::CUDA, dt, gx_g, gw_g, gb_g, to_gpu(g), to_gpu(x),
                               clone_gpu(w), mean_g, invstd_g, training);
  const double per_channel = static_cast<double>(x.numel() / std::max<int64_t>(c, 1));
  const Tol t_sum = stat_tol(dt, std::sqrt(per_channel));
  EXPECT_TRUE(close(gx_g, gx, t_out.atol, t_out.rtol, "grad_x"));
  if (affine) {
    EXPECT_TRUE(close(gw_g, gw, t_sum.atol, t_sum.rtol, "grad_weight"));
  }
  EXPECT_TRUE(close(gb_g, gb, t_sum.atol, t_sum.rtol, "grad_bias"));
}

TEST(CudaBatchNorm, TrainingAndEvalMatchCpuForAllLayoutsAndDtypes) {
  FF_SKIP_WITHOUT_CUDA();
  uint64_t seed = 100;
  for (DType dt : float_types()) {
    for (bool training : {true, false}) {
      check_batch_norm({4, 6, 5, 7}, dt, true, training, seed += 10);   // BatchNorm2d
      check_batch_norm({33, 17}, dt, true, training, seed += 10);       // BatchNorm1d on features
      check_batch_norm({3, 5, 11}, dt, false, training, seed += 10);    // [N, C, L], no affine
    }
  }
}

TEST(CudaBatchNorm, ManyValuesPerChannelSplitAcrossBlocks) {
  FF_SKIP_WITHOUT_CUDA();
  // 64 x 56 x 56 values per channel: the statistics are reduced by several chunks per channel.
  check_batch_norm({64, 3, 56, 56}, DType::Float32, true, true, 7);
  check_batch_norm({64, 3, 56, 56}, DType::Float16, true, true, 8);
}

// ---- l2_normalize ---------------------------------------------------------------------------------------------
TEST(CudaL2Normalize, RowsColumnsZeroSlicesAndBackwardMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : float_types()) {
    SCOPED_TRACE(dtype_name(dt));
    struct Case {
      Shape shape;
      int64_t dim;
    };
    for (const Case& c : {Case{{9, 515}, 1}, Case{{4, 6, 5}, 1}, Case{{7, 3}, 0}, Case{{2, 3, 1000}, 2}}) {
      SCOPED_TRACE(shape_str(c.shape));
      Tensor x = rand_cpu(c.shape, 200 + c.dim, dt);
      if (c.shape.size() == 2 && c.dim == 1) x.select(0, 3).zero_();  // an all-zero row stays zero
      const Tensor g = rand_cpu(c.shape, 300 + c.dim, dt);
      const Tol tol = tol_for(dt, 1.0);
      for (double eps : {1e-12, 0.5}) {
        Tensor out = empty_cpu(c.shape, dt), out_g = empty_gpu(c.shape, dt);
        run<L2NormalizeKernel>("l2_normalize", DeviceType::CPU, dt, out, x, c.dim, eps);
        run<L2NormalizeKernel>("l2_normalize", DeviceType::CUDA, dt, out_g, to_gpu(x), c.dim, eps);
        EXPECT_TRUE(close(out_g, out, tol.atol, tol.rtol, "forward"));
        Tensor gx = empty_cpu(c.shape, dt), gx_g = empty_gpu(c.shape, dt);
        run<L2NormalizeBackwardKernel>("l2_normalize_backward", DeviceType::CPU, dt, gx, g, x, c.dim, eps);
        run<L2NormalizeBackwardKernel>("l2_normalize_backward", DeviceType::CUDA, dt, gx_g, to_gpu(g), to_gpu(x), c.dim, eps);
        // The gradient scales with 1 / ||x|| (up to 1 / eps for the zero row).
        const double scale = eps >= 0.5 ? 2.0 : 1e12;
        const Tol tg = tol_for(dt, std::min(scale, 50.0));
        EXPECT_TRUE(close(gx_g, gx, tg.atol, std::max(tg.rtol, 1e-4), "backward"));
      }
    }
  }
}

// ---- softmax ----------------------------------------------------------------------------------------------------
TEST(CudaSoftmax, ForwardAndBackwardAlongEveryKindOfDimMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : float_types()) {
    SCOPED_TRACE(dtype_name(dt));
    struct Case {
      Shape shape;
      int64_t dim;
    };
    for (const Case& c : {Case{{7, 13}, 1}, Case{{7, 13}, 0}, Case{{3, 5, 4}, 1}, Case{{2, 5000}, 1}, Case{{1}, 0}}) {
      for (bool log : {false, true}) {
        SCOPED_TRACE(shape_str(c.shape) + (log ? " log_softmax" : " softmax"));
        const char* fwd = log ? "log_softmax" : "softmax";
        const char* bwd = log ? "log_softmax_backward" : "softmax_backward";
        const Tensor x = rand_cpu(c.shape, 400 + c.dim, dt, -5.0, 5.0);
        Tensor y = empty_cpu(c.shape, dt), y_g = empty_gpu(c.shape, dt);
        run<SoftmaxKernel>(fwd, DeviceType::CPU, dt, y, x, c.dim, log);
        run<SoftmaxKernel>(fwd, DeviceType::CUDA, dt, y_g, to_gpu(x), c.dim, log);
        const Tol tol = tol_for(dt, log ? 10.0 : 1.0);
        EXPECT_TRUE(close(y_g, y, tol.atol, tol.rtol, "forward"));
        const Tensor g = rand_cpu(c.shape, 500 + c.dim, dt);
        Tensor gx = empty_cpu(c.shape, dt), gx_g = empty_gpu(c.shape, dt);
        run<SoftmaxBackwardKernel>(bwd, DeviceType::CPU, dt, gx, g, y, c.dim, log);
        run<SoftmaxBackwardKernel>(bwd, DeviceType::CUDA, dt, gx_g, to_gpu(g), to_gpu(y), c.dim, log);
        const Tol tg = tol_for(dt, log ? 5.0 : 1.0);
        EXPECT_TRUE(close(gx_g, gx, tg.atol, tg.rtol, "backward"));
      }
    }
  }
}

TEST(CudaSoftmax, SpecialValuesBehaveLikeTheCpu) {
  FF_SKIP_WITHOUT_CUDA();
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  // Rows: ordinary with one -inf, all -inf (NaN), one NaN (NaN), one +inf (NaN), huge logits.
  const Tensor x = tensor_from(std::vector<double>{1, -inf, 2, 0, -inf, -inf, -inf, -inf, 1, nan, 2, 3,
                                                   1, inf, 2, 3, 1e4, 1e4 + 1, -1e4, 0},
                               {5, 4});
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor xt = x.to(dt);
    for (bool log : {false, true}) {
      const char* op = log ? "log_softmax" : "softmax";
      Tensor y = empty_cpu({5, 4}, dt), y_g = empty_gpu({5, 4}, dt);
      run<SoftmaxKernel>(op, DeviceType::CPU, dt, y, xt, 1, log);
      run<SoftmaxKernel>(op, DeviceType::CUDA, dt, y_g, to_gpu(xt), 1, log);
      EXPECT_TRUE(close(y_g, y, 1e-6, 1e-6, std::string(op) + " special values"));
    }
  }
}

// ---- cross-entropy ------------------------------------------------------------------------------------------------
void check_cross_entropy(int64_t rows, int64_t classes, DType dt, DType target_dtype, uint64_t seed) {
  SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(classes) + " " + dtype_name(dt) + " targets " +
               dtype_name(target_dtype));
  const Tensor logits = rand_cpu({rows, classes}, seed, dt, -4.0, 4.0);
  std::vector<int64_t> t(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) t[static_cast<size_t>(i)] = (i * 7 + 3) % classes;
  if (rows > 2) t[1] = -100;  // ignored
  const Tensor target = tensor_from(t, {rows}).to(target_dtype);
  const DType stat = dt == DType::Float64 ? DType::Float64 : DType::Float32;
  for (Reduction red : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    SCOPED_TRACE(red == Reduction::None ? "none" : red == Reduction::Mean ? "mean" : "sum");
    const Shape out_shape = red == Reduction::None ? Shape{rows} : Shape{};
    Tensor out = empty_cpu(out_shape, dt), lse = empty_cpu({rows}, stat);
    Tensor out_g = empty_gpu(out_shape, dt), lse_g = empty_gpu({rows}, stat);
    run<CrossEntropyKernel>("cross_entropy", DeviceType::CPU, dt, out, lse, logits, target, red, int64_t{-100});
    run<CrossEntropyKernel>("cross_entropy", DeviceType::CUDA, dt, out_g, lse_g, to_gpu(logits), to_gpu(target), red,
                            int64_t{-100});
    const Tol tol = tol_for(dt, red == Reduction::Sum ? static_cast<double>(rows) * 5.0 : 5.0);
    EXPECT_TRUE(close(out_g, out, tol.atol, tol.rtol, "loss"));
    const Tol tl = stat_tol(dt == DType::Float64 ? dt : DType::Float32, 10.0);
    EXPECT_TRUE(close(lse_g, lse, std::max(tl.atol, 1e-5 * 10.0), std::max(tl.rtol, 2e-6), "row_lse"));

    const Tensor g = red == Reduction::None ? rand_cpu({rows}, seed + 1, dt) : rand_cpu({1}, seed + 2, dt).view({});
    Tensor gl = empty_cpu({rows, classes}, dt), gl_g = empty_gpu({rows, classes}, dt);
    run<CrossEntropyBackwardKernel>("cross_entropy_backward", DeviceType::CPU, dt, gl, g, logits, target, lse, red,
                                    int64_t{-100});
    run<CrossEntropyBackwardKernel>("cross_entropy_backward", DeviceType::CUDA, dt, gl_g, to_gpu(g), to_gpu(logits),
                                    to_gpu(target), lse_g, red, int64_t{-100});
    const Tol tg = tol_for(dt, 1.0);
    EXPECT_TRUE(close(gl_g, gl, tg.atol, tg.rtol, "grad_logits"));
  }
}

TEST(CudaCrossEntropy, LossesLseAndGradientsMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  uint64_t seed = 600;
  for (DType dt : float_types()) {
    check_cross_entropy(9, 17, dt, DType::Int64, seed += 10);
    check_cross_entropy(5, 3, dt, DType::Int32, seed += 10);
  }
  // ArcFace-sized rows: many classes per row.
  check_cross_entropy(4, 70001, DType::Float32, DType::Int64, 700);
  check_cross_entropy(4, 70001, DType::Float16, DType::Int64, 701);
}

TEST(CudaCrossEntropy, AllIgnoredMeanIsNanAndBadTargetsThrowNamingTheRow) {
  FF_SKIP_WITHOUT_CUDA();
  const Tensor logits = to_gpu(rand_cpu({6, 5}, 800));
  const Tensor ignored = to_gpu(tensor_from(std::vector<int64_t>(6, -100), {6}));
  Tensor out = empty_gpu({}, DType::Float32), lse = empty_gpu({6}, DType::Float32);
  run<CrossEntropyKernel>("cross_entropy", DeviceType::CUDA, DType::Float32, out, lse, logits, ignored, Reduction::Mean,
                          int64_t{-100});
  EXPECT_TRUE(std::isnan(to_host(out).item<double>()));

  const Tensor bad = to_gpu(tensor_from(std::vector<int64_t>{0, 1, 2, 3, 9, -7}, {6}));
  try {
    run<CrossEntropyKernel>("cross_entropy", DeviceType::CUDA, DType::Float32, out, lse, logits, bad, Reduction::Mean,
                            int64_t{-100});
    ADD_FAILURE() << "no error for target 9 with 5 classes";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("target[4] = 9"), std::string::npos) << msg;  // the first bad row
    EXPECT_NE(msg.find("5 classes"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace ff
