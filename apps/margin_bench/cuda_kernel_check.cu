// margin_cuda_check: runs the CUDA kernels of combined_margin and sparse_rows_sgd_update on
// the GPU through their raw launchers and compares them with the host path of the very same
// math headers (which tests/margin/ checks against the closed form), then times the margin
// forward/backward on a 128 × 1M float32 matrix. Stand-alone (no libfaceflow), so it runs on a
// machine where the rest of the CUDA backend is not built; exit status 1 on any mismatch.
//
//   nvcc -O3 -std=c++17 -arch=sm_90 -I. apps/margin_bench/cuda_kernel_check.cu -o margin_cuda_check
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "ops/margin/margin_kernels.cuh"
#include "ops/partial_fc/sparse_rows_sgd_kernels.cuh"

namespace {

using ff::margin_math::Constants;

int g_failures = 0;

#define CHECK_CUDA(call)                                                                              \
  do {                                                                                                \
    cudaError_t e_ = (call);                                                                          \
    if (e_ != cudaSuccess) {                                                                          \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));      \
      std::exit(2);                                                                                   \
    }                                                                                                 \
  } while (0)

template <typename T>
T* to_device(const std::vector<T>& v) {
  T* d = nullptr;
  CHECK_CUDA(cudaMalloc(&d, v.size() * sizeof(T) + 1));
  CHECK_CUDA(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

template <typename T>
std::vector<T> to_host(const T* d, size_t n) {
  std::vector<T> v(n);
  CHECK_CUDA(cudaMemcpy(v.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return v;
}

template <typename T>
void expect_close(const char* what, const std::vector<T>& got, const std::vector<T>& want, double atol, double rtol) {
  size_t bad = 0, first = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(double(got[i]) - double(want[i]));
    if (!(err <= atol + rtol * std::abs(double(want[i])))) {
      if (bad++ == 0) first = i;
    }
    worst = std::max(worst, err);
  }
  std::printf("%-58s %s (max abs err %.3g)\n", what, bad ? "MISMATCH" : "ok", worst);
  if (bad) {
    std::printf("   %zu bad elements, first at %zu: got %.17g want %.17g\n", bad, first, double(got[first]),
                double(want[first]));
    ++g_failures;
  }
}

// Host reference of the margin forward/backward (the same margin_math the CPU kernel uses).
template <typename T>
void host_margin(const std::vector<T>& x, int64_t rows, int64_t cols, int64_t rs, int64_t cs,
                 const std::vector<int64_t>& labels, const Constants& c, std::vector<T>& out, std::vector<T>& slope) {
  out.assign(rows * cols, T(0));
  slope.assign(rows, T(0));
  const T s = T(c.scale);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const T v = x[i * rs + j * cs];
      out[i * cols + j] = ff::margin_math::filtered(v, c) ? T(0) : s * ff::margin_math::clamp_unit(v);
    }
    if (labels[i] >= 0) {
      T value, sl;
      ff::margin_math::target_value(x[i * rs + labels[i] * cs], c, &value, &sl);
      out[i * cols + labels[i]] = s * value;
      slope[i] = s * sl;
    }
  }
}

template <typename T>
void check_margin(const char* name, int64_t rows, int64_t cols, int col_stride, const Constants& c, double tol,
                  uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  const int64_t rs = cols * col_stride;
  std::vector<T> x(rows * rs);
  for (auto& v : x) v = T(u(rng));
  std::vector<int64_t> labels(rows);
  const double special[] = {1.0, std::cos(1e-5), -1.0, std::cos(3.0), std::cos(2.7), 1.0000001};
  for (int64_t i = 0; i < rows; ++i) {
    labels[i] = (i % 7 == 3) ? -1 : int64_t(rng() % cols);
    if (labels[i] >= 0 && i < 6) x[i * rs + labels[i] * col_stride] = T(special[i]);
  }
  std::vector<T> want_out, want_slope;
  host_margin(x, rows, cols, rs, col_stride, labels, c, want_out, want_slope);

  T* dx = to_device(x);
  int64_t* dl = to_device(labels);
  T *dout = nullptr, *dslope = nullptr;
  CHECK_CUDA(cudaMalloc(&dout, rows * cols * sizeof(T)));
  CHECK_CUDA(cudaMalloc(&dslope, rows * sizeof(T)));
  ff::margin_cuda::Layout l{rows, cols, rs, col_stride};
  CHECK_CUDA((ff::margin_cuda::launch_margin_forward<T, int64_t>(dx, l, dl, dout, dslope, c, nullptr)));
  CHECK_CUDA(cudaDeviceSynchronize());
  char what[160];
  std::snprintf(what, sizeof what, "forward  %s %s [%lld x %lld] stride %d", name, sizeof(T) == 8 ? "f64" : "f32",
                (long long)rows, (long long)cols, col_stride);
  expect_close(what, to_host(dout, rows * cols), want_out, tol * c.scale, tol);
  const std::vector<T> got_slope = to_host(dslope, rows);
  std::snprintf(what, sizeof what, "row slope %s %s", name, sizeof(T) == 8 ? "f64" : "f32");
  expect_close(what, got_slope, want_slope, tol * c.scale * 10, tol * 10);

  // Backward from a strided upstream gradient (reuses x's layout), filter read from x.
  std::vector<T> g(rows * rs);
  for (auto& v : g) v = T(u(rng));
  std::vector<T> want_gx(rows * cols);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const T gv = g[i * rs + j * col_stride];
      const bool drop = ff::margin_math::filtered(x[i * rs + j * col_stride], c);
      want_gx[i * cols + j] = j == labels[i] ? want_slope[i] * gv : (drop ? T(0) : T(c.scale) * gv);
    }
  }
  T* dg = to_device(g);
  T* dgx = nullptr;
  CHECK_CUDA(cudaMalloc(&dgx, rows * cols * sizeof(T)));
  const bool filter = c.filter_threshold > 0.0;
  CHECK_CUDA((ff::margin_cuda::launch_margin_backward<T, int64_t>(dg, l, filter ? dx : nullptr, rs, col_stride, dl,
                                                                  dslope, dgx, c, nullptr)));
  CHECK_CUDA(cudaDeviceSynchronize());
  std::snprintf(what, sizeof what, "backward %s %s", name, sizeof(T) == 8 ? "f64" : "f32");
  expect_close(what, to_host(dgx, rows * cols), want_gx, tol * c.scale * 10, tol * 10);
  for (void* p : {(void*)dx, (void*)dl, (void*)dout, (void*)dslope, (void*)dg, (void*)dgx}) CHECK_CUDA(cudaFree(p));
}

template <typename P>
void check_sparse_sgd(bool nesterov, bool momentum) {
  const int64_t n = 1000, width = 64;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd;
  std::vector<P> param(n * width), buf(n * width);
  for (auto& v : param) v = P(nd(rng));
  for (auto& v : buf) v = P(0.1 * nd(rng));
  std::vector<int64_t> rows;
  for (int64_t r = 1; r < n; r += 3) rows.push_back(r);
  std::vector<P> grads(rows.size() * width);
  for (auto& v : grads) v = P(nd(rng));
  const ff::sparse_sgd_math::Hyper<P> h{P(0.1), P(momentum ? 0.9 : 0.0), P(5e-4), P(1), momentum, nesterov};
  std::vector<P> want_p = param, want_b = buf;
  for (size_t k = 0; k < rows.size(); ++k) {
    for (int64_t j = 0; j < width; ++j) {
      const int64_t at = rows[k] * width + j;
      want_p[at] = ff::sparse_sgd_math::update_element(want_p[at], grads[k * width + j], &want_b[at], h);
    }
  }
  P* dp = to_device(param);
  P* db = to_device(buf);
  int64_t* dr = to_device(rows);
  P* dg = to_device(grads);
  CHECK_CUDA((ff::sparse_sgd_cuda::launch_sparse_rows_sgd<P, P>(dp, momentum ? db : nullptr, dr, dg,
                                                                int64_t(rows.size()), width, h, nullptr)));
  CHECK_CUDA(cudaDeviceSynchronize());
  char what[128];
  std::snprintf(what, sizeof what, "sparse_rows_sgd %s momentum %d nesterov %d", sizeof(P) == 8 ? "f64" : "f32",
                momentum, nesterov);
  expect_close(what, to_host(dp, param.size()), want_p, 1e-6, 1e-6);
  expect_close("  momentum buffer (unsampled rows must be unchanged)", to_host(db, buf.size()), want_b, 1e-6, 1e-6);
  for (void* p : {(void*)dp, (void*)db, (void*)dr, (void*)dg}) CHECK_CUDA(cudaFree(p));
}

void time_margin(int64_t rows, int64_t cols) {
  float *dx, *dout, *dslope, *dgx;
  int64_t* dl;
  const size_t bytes = size_t(rows) * cols * sizeof(float);
  CHECK_CUDA(cudaMalloc(&dx, bytes));
  CHECK_CUDA(cudaMalloc(&dout, bytes));
  CHECK_CUDA(cudaMalloc(&dgx, bytes));
  CHECK_CUDA(cudaMalloc(&dslope, rows * sizeof(float)));
  CHECK_CUDA(cudaMemset(dx, 0, bytes));
  std::vector<int64_t> labels(rows);
  for (int64_t i = 0; i < rows; ++i) labels[i] = (i * 7919) % cols;
  dl = to_device(labels);
  const Constants c = ff::margin_math::make_constants(1.0, 0.5, 0.0, 64.0, 0, false, 0.0);
  ff::margin_cuda::Layout l{rows, cols, cols, 1};
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  for (int pass = 0; pass < 2; ++pass) {
    const int reps = 20;
    CHECK_CUDA(cudaEventRecord(a));
    for (int r = 0; r < reps; ++r) {
      if (pass == 0) {
        CHECK_CUDA((ff::margin_cuda::launch_margin_forward<float, int64_t>(dx, l, dl, dout, dslope, c, nullptr)));
      } else {
        CHECK_CUDA((ff::margin_cuda::launch_margin_backward<float, int64_t>(dout, l, nullptr, 0, 0, dl, dslope, dgx, c,
                                                                            nullptr)));
      }
    }
    CHECK_CUDA(cudaEventRecord(b));
    CHECK_CUDA(cudaEventSynchronize(b));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
    const double per = ms / reps;
    std::printf("timing %-8s [%lld x %lld] f32: %.3f ms, %.0f GB/s (read + write %.0f MiB)\n",
                pass == 0 ? "forward" : "backward", (long long)rows, (long long)cols, per, 2.0 * bytes / per / 1e6,
                2.0 * bytes / (1 << 20));
  }
  for (void* p : {(void*)dx, (void*)dout, (void*)dgx, (void*)dslope, (void*)dl}) CHECK_CUDA(cudaFree(p));
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipped\n");
    return 0;
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s\n", prop.name);
  using ff::margin_math::make_constants;
  struct Named {
    const char* name;
    Constants c;
  };
  const Named presets[] = {
      {"arcface", make_constants(1.0, 0.5, 0.0, 64.0, 0, false, 0.0)},
      {"cosface", make_constants(1.0, 0.0, 0.35, 64.0, 0, false, 0.0)},
      {"combined", make_constants(1.0, 0.3, 0.2, 64.0, 0, false, 0.0)},
      {"m1=1.35 plain", make_constants(1.35, 0.25, 0.1, 30.0, 1, false, 0.0)},
      {"arcface thmm", make_constants(1.0, 0.5, 0.0, 64.0, 2, false, 0.0)},
      {"arcface easy", make_constants(1.0, 0.5, 0.0, 64.0, 3, false, 0.0)},
      {"arcface straight", make_constants(1.0, 0.5, 0.0, 64.0, 0, true, 0.0)},
      {"arcface filter 0.4", make_constants(1.0, 0.5, 0.0, 64.0, 0, false, 0.4)},
  };
  for (const auto& p : presets) {
    check_margin<double>(p.name, 37, 1029, 1, p.c, 1e-12, 1);
    check_margin<double>(p.name, 13, 257, 2, p.c, 1e-12, 2);
    check_margin<float>(p.name, 37, 1029, 1, p.c, 2e-4, 3);
  }
  check_margin<float>("arcface, rows past gridDim.y", 70000, 3, 1, presets[0].c, 2e-4, 4);
  check_margin<float>("arcface, cols past gridDim.x", 2, 300000, 1, presets[0].c, 2e-4, 5);
  for (bool momentum : {false, true}) {
    for (bool nesterov : {false, true}) {
      if (nesterov && !momentum) continue;
      check_sparse_sgd<float>(nesterov, momentum);
      check_sparse_sgd<double>(nesterov, momentum);
    }
  }
  time_margin(128, 1000000);
  std::printf("%s\n", g_failures ? "FAILED" : "ALL OK");
  return g_failures ? 1 : 0;
}
