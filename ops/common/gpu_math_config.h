// Process-wide switches for the GPU math libraries (cuDNN, cuBLAS/cuBLASLt).
//
// Plain C++ with no CUDA headers, compiled in every build, so code and tests can set them in a
// CPU-only build too (where they change nothing: the CPU kernels are always deterministic and
// never use TF32).
//
//   deterministic_algorithms()  cuDNN convolutions choose among deterministic algorithms only,
//                               by cuDNN's heuristics instead of timing (cudnnFind*), so a run
//                               repeats bit for bit, also across processes on the same GPU and
//                               library versions. Initial value: env FF_CUDNN_DETERMINISTIC=1.
//                               Default off: convolutions then take the fastest algorithm that
//                               cudnnFind* measures, which may use atomics (backward passes).
//   allow_tf32()                fp32 GEMMs and convolutions may run on tensor cores in TF32
//                               (10-bit mantissa inputs, fp32 accumulation): ~8x the fp32 rate on
//                               H100/H200, with relative errors around 1e-3. Initial value: env
//                               FF_ALLOW_TF32=1. Default off, so fp32 stays IEEE fp32 (like
//                               PyTorch's torch.backends.cuda.matmul.allow_tf32 = False).
//
// Changing a switch takes effect at the next kernel call; the cuDNN algorithm cache keys on both,
// so earlier choices are not reused under the new setting.
#pragma once

namespace ff::gpu {

bool deterministic_algorithms();
void set_deterministic_algorithms(bool enabled);

bool allow_tf32();
void set_allow_tf32(bool enabled);

// Restores the previous value of deterministic_algorithms() on scope exit (for tests).
class DeterministicGuard {
 public:
  explicit DeterministicGuard(bool enabled) : prev_(deterministic_algorithms()) { set_deterministic_algorithms(enabled); }
  ~DeterministicGuard() { set_deterministic_algorithms(prev_); }
  DeterministicGuard(const DeterministicGuard&) = delete;
  DeterministicGuard& operator=(const DeterministicGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace ff::gpu
