// Error checking for FaceFlow.
//
//   FF_CHECK(cond, "fmt {}", args...)   user errors: bad shapes, dtypes, files, indices.
//                                       Throws ff::Error with the formatted message and file:line.
//   FF_ASSERT(cond, "fmt {}", args...)  internal invariants: a failure is a FaceFlow bug.
//                                       Throws ff::InternalError.
//
// Both throw (never abort), so tests can expect them and a trainer can report them.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>

namespace ff {

// A user-facing error: the message names the op, shape, file, record or key at fault.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A broken internal invariant (a bug in FaceFlow, not in the caller's input).
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {
[[noreturn]] void throw_error(const char* file, int line, const std::string& msg);
[[noreturn]] void throw_internal(const char* file, int line, const char* cond, const std::string& msg);

template <typename... Args>
std::string format_message(fmt::format_string<Args...> f, Args&&... args) {
  return fmt::format(f, std::forward<Args>(args)...);
}
inline std::string format_message() { return {}; }
}  // namespace detail

}  // namespace ff

#define FF_CHECK(cond, ...)                                                                   \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      ::ff::detail::throw_error(__FILE__, __LINE__, ::ff::detail::format_message(__VA_ARGS__)); \
    }                                                                                         \
  } while (0)

#define FF_THROW(...) ::ff::detail::throw_error(__FILE__, __LINE__, ::ff::detail::format_message(__VA_ARGS__))

#define FF_ASSERT(cond, ...)                                                                 \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      ::ff::detail::throw_internal(__FILE__, __LINE__, #cond,                                \
                                   ::ff::detail::format_message(__VA_ARGS__));               \
    }                                                                                        \
  } while (0)
