#include "ops/common/gpu_math_config.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ff::gpu {
namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && (std::strcmp(v, "1") == 0 || std::strcmp(v, "true") == 0 || std::strcmp(v, "TRUE") == 0 ||
                          std::strcmp(v, "on") == 0 || std::strcmp(v, "ON") == 0);
}

// Read once, on first use (not at static-initialisation time, so a test can set the variable
// before touching any kernel).
std::atomic<bool>& deterministic_flag() {
  static std::atomic<bool> flag{env_flag("FF_CUDNN_DETERMINISTIC")};
  return flag;
}

std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> flag{env_flag("FF_ALLOW_TF32")};
  return flag;
}

}  // namespace

bool deterministic_algorithms() { return deterministic_flag().load(std::memory_order_relaxed); }
void set_deterministic_algorithms(bool enabled) { deterministic_flag().store(enabled, std::memory_order_relaxed); }

bool allow_tf32() { return tf32_flag().load(std::memory_order_relaxed); }
void set_allow_tf32(bool enabled) { tf32_flag().store(enabled, std::memory_order_relaxed); }

}  // namespace ff::gpu
