// Op registry: ops are registered by name, kernels by (op, device type, dtype).
//
//   FF_REGISTER_OP(add, kDifferentiable | kOnnxExportable);
//   FF_REGISTER_KERNEL(add, CPU, kAllFloating, binary_cpu);  // binary_cpu has type BinaryKernel
//
//   static const dispatch::OpHandle op("add");
//   op.kernel<BinaryKernel>(a.device().type, a.dtype())(a, b, out, BinaryOp::Add);
//
// A missing kernel raises ff::Error naming the op, device and dtype: there is never a silent
// fallback to another device or dtype. The registry also answers the self-test: which ops
// exist, and whether each is differentiable and exportable.
#pragma once

#include <any>
#include <array>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "framework/core/device.h"
#include "framework/core/dtype.h"

namespace ff::dispatch {

// Flags given to FF_REGISTER_OP, combined with |.
enum OpFlags : unsigned {
  kNoFlags = 0,
  kDifferentiable = 1u << 0,  // has a backward; needs a gradient check
  kOnnxExportable = 1u << 1,  // appears in exported models; needs an ONNX export rule
  kDeviceAgnostic = 1u << 2,  // pure metadata (views) or composed of other ops: no kernels of its own
};

struct OpInfo {
  bool differentiable = false;
  bool onnx_exportable = false;
  bool device_agnostic = false;
  static OpInfo from_flags(unsigned flags) {
    return OpInfo{(flags & kDifferentiable) != 0, (flags & kOnnxExportable) != 0, (flags & kDeviceAgnostic) != 0};
  }
};

struct OpEntry {
  std::string name;
  OpInfo info;
  bool declared = false;  // FF_REGISTER_OP seen (kernels alone do not declare an op)
  std::array<std::array<std::any, kNumDTypes>, kNumDeviceTypes> kernels;
};

class Registry {
 public:
  static Registry& instance();

  void add_op(const std::string& name, OpInfo info);  // throws on duplicates
  void add_kernel(const std::string& op, DeviceType device, DType dtype, std::any fn);
  const OpEntry& op(const std::string& name) const;  // throws on unknown ops
  bool has_op(const std::string& name) const;
  bool has_kernel(const std::string& op, DeviceType device, DType dtype) const;
  std::vector<std::string> op_names() const;  // declared ops, sorted
  // Names that have kernels but were never declared with FF_REGISTER_OP (always a bug).
  std::vector<std::string> undeclared_kernel_ops() const;

 private:
  std::map<std::string, std::unique_ptr<OpEntry>> ops_;
};

[[noreturn]] void throw_missing_kernel(const OpEntry& op, DeviceType device, DType dtype);
[[noreturn]] void throw_kernel_type_mismatch(const OpEntry& op, DeviceType device, DType dtype,
                                             const char* wanted);

// Cached lookup of one op's kernels; construct once (function-local static) per call site.
class OpHandle {
 public:
  explicit OpHandle(const std::string& name) : entry_(&Registry::instance().op(name)) {}

  template <typename Fn>
  Fn kernel(DeviceType device, DType dtype) const {
    const std::any& k = entry_->kernels[static_cast<int>(device)][static_cast<int>(dtype)];
    if (!k.has_value()) throw_missing_kernel(*entry_, device, dtype);
    const Fn* fn = std::any_cast<Fn>(&k);
    if (!fn) throw_kernel_type_mismatch(*entry_, device, dtype, typeid(Fn).name());
    return *fn;
  }
  const std::string& name() const { return entry_->name; }

 private:
  const OpEntry* entry_;
};

// dtype sets for registration
inline constexpr std::initializer_list<DType> kFloatingTypes = {DType::Float32, DType::Float64,
                                                                DType::Float16, DType::BFloat16};
inline constexpr std::initializer_list<DType> kFloat32And64 = {DType::Float32, DType::Float64};
inline constexpr std::initializer_list<DType> kAllTypes = {
    DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
    DType::Int32,   DType::Int64,   DType::UInt8,   DType::Bool};
inline constexpr std::initializer_list<DType> kNumericTypes = {
    DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int32, DType::Int64, DType::UInt8};

namespace detail {
struct OpRegistrar {
  OpRegistrar(const char* name, OpInfo info) { Registry::instance().add_op(name, info); }
};
struct KernelRegistrar {
  template <typename Fn>
  KernelRegistrar(const char* op, DeviceType device, std::initializer_list<DType> dtypes, Fn fn) {
    for (DType t : dtypes) Registry::instance().add_kernel(op, device, t, std::any(fn));
  }
};
}  // namespace detail

}  // namespace ff::dispatch

#define FF_DISPATCH_CONCAT_(a, b) a##b
#define FF_DISPATCH_CONCAT(a, b) FF_DISPATCH_CONCAT_(a, b)

// Registers op `name` (an identifier) with OpFlags, e.g. kDifferentiable | kOnnxExportable.
#define FF_REGISTER_OP(name, flags)                                               \
  static const ::ff::dispatch::detail::OpRegistrar FF_DISPATCH_CONCAT(           \
      ff_op_registrar_, __LINE__)(#name, ::ff::dispatch::OpInfo::from_flags(     \
                                             [] { using namespace ::ff::dispatch; return (flags); }()))

// Registers `fn` as the kernel of op `name` on device DEVICE (CPU/CUDA) for every dtype in `dtypes`.
// The op must be registered (in any translation unit) before the first lookup, not before this.
#define FF_REGISTER_KERNEL(name, DEVICE, dtypes, fn)                                      \
  static const ::ff::dispatch::detail::KernelRegistrar FF_DISPATCH_CONCAT(                \
      ff_kernel_registrar_, __LINE__)(#name, ::ff::DeviceType::DEVICE, dtypes, fn)
