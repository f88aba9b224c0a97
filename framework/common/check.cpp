#include "framework/common/check.h"

#include <cstring>

namespace ff::detail {

namespace {
// Strip the source-tree prefix so messages show "framework/core/tensor.cpp:12".
const char* short_path(const char* file) {
  for (const char* marker : {"framework/", "ops/", "models/", "data/", "apps/", "tests/"}) {
    if (const char* p = std::strstr(file, marker)) return p;
  }
  return file;
}
}  // namespace

void throw_error(const char* file, int line, const std::string& msg) {
  throw Error(fmt::format("{} ({}:{})", msg, short_path(file), line));
}

void throw_internal(const char* file, int line, const char* cond, const std::string& msg) {
  throw InternalError(fmt::format("FaceFlow internal error: {} [{}] at {}:{}; please report a bug",
                                  msg.empty() ? std::string("invariant failed") : msg, cond,
                                  short_path(file), line));
}

}  // namespace ff::detail
