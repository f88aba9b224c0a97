// Element types. Every tensor has exactly one; kernels are registered per (device, dtype).
#pragma once

#include <cstdint>
#include <string>

#include "framework/common/check.h"
#include "framework/common/half.h"

namespace ff {

enum class DType : uint8_t { Float32, Float16, BFloat16, Float64, Int32, Int64, UInt8, Bool };

constexpr int kNumDTypes = 8;

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "float32", "float16", ... (also used in error messages)
DType dtype_from_name(const std::string& name);  // throws ff::Error on unknown names
bool is_floating(DType t);        // float32/16, bfloat16, float64
bool is_integral(DType t);        // int32/int64/uint8/bool

// C++ type <-> DType.
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::Float32; };
template <> struct DTypeOf<Half> { static constexpr DType value = DType::Float16; };
template <> struct DTypeOf<BFloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::Float64; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::Bool; };
template <typename T> constexpr DType dtype_of = DTypeOf<T>::value;

// Compute ("accumulate") type for a storage type: 16-bit floats compute in float.
template <typename T> struct AccType { using type = T; };
template <> struct AccType<Half> { using type = float; };
template <> struct AccType<BFloat16> { using type = float; };
template <typename T> using acc_t = typename AccType<T>::type;

// The type that results from mixing two dtypes in arithmetic (like NumPy's promotion,
// restricted to FaceFlow's types). Bool < UInt8 < Int32 < Int64 < BFloat16/Float16 < Float32 < Float64;
// BFloat16 with Float16 promotes to Float32.
DType promote_types(DType a, DType b);

}  // namespace ff

// FF_DISPATCH_*: run a generic lambda body with `scalar_t` bound to the C++ type of `dtype`.
// Unsupported dtypes raise an error naming `op_name` and the dtype.
#define FF_DTYPE_CASE(enum_value, cpp_type, ...) \
  case ::ff::DType::enum_value: {                \
    using scalar_t = cpp_type;                   \
    return __VA_ARGS__();                        \
  }

#define FF_DISPATCH_FLOATING(dtype, op_name, ...)                                             \
  [&] {                                                                                       \
    switch (dtype) {                                                                          \
      FF_DTYPE_CASE(Float32, float, __VA_ARGS__)                                              \
      FF_DTYPE_CASE(Float64, double, __VA_ARGS__)                                             \
      FF_DTYPE_CASE(Float16, ::ff::Half, __VA_ARGS__)                                         \
      FF_DTYPE_CASE(BFloat16, ::ff::BFloat16, __VA_ARGS__)                                    \
      default:                                                                                \
        FF_THROW("{}: dtype {} is not supported (floating types only)", op_name,              \
                 ::ff::dtype_name(dtype));                                                    \
    }                                                                                         \
  }()

#define FF_DISPATCH_ALL(dtype, op_name, ...)                                                  \
  [&] {                                                                                       \
    switch (dtype) {                                                                          \
      FF_DTYPE_CASE(Float32, float, __VA_ARGS__)                                              \
      FF_DTYPE_CASE(Float64, double, __VA_ARGS__)                                             \
      FF_DTYPE_CASE(Float16, ::ff::Half, __VA_ARGS__)                                         \
      FF_DTYPE_CASE(BFloat16, ::ff::BFloat16, __VA_ARGS__)                                    \
      FF_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)                                              \
      FF_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)                                              \
      FF_DTYPE_CASE(UInt8, uint8_t, __VA_ARGS__)                                              \
      FF_DTYPE_CASE(Bool, bool, __VA_ARGS__)                                                  \
    }                                                                                         \
    FF_ASSERT(false, "{}: unknown dtype", op_name);                                           \
  }()

#define FF_DISPATCH_INDEX(dtype, op_name, ...)                                                \
  [&] {                                                                                       \
    switch (dtype) {                                                                          \
      FF_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)                                              \
      FF_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)                                              \
      default:                                                                                \
        FF_THROW("{}: index tensor must be int32 or int64, got {}", op_name,                  \
                 ::ff::dtype_name(dtype));                                                    \
    }                                                                                         \
  }()
