// Shared pieces of the fused optimizer-update ops (sgd_update, adamw_update, foreach_*).
//
// The update ops take *lists* of tensors that share one device and one dtype, so a CUDA
// backend can register a multi-tensor kernel (one launch for many parameters) under the same
// op name; the CPU kernels walk the list. Optimizers bucket their parameters by (device,
// dtype) and call each op once per bucket.
#pragma once

#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace ff {

// dtype of optimizer state (momentum buffers, Adam moments) for a parameter of dtype `param`:
// float32 for float16/bfloat16 parameters, so that small running averages are not rounded
// away in 16 bits; the parameter's own dtype otherwise. Kernels compute in acc_t<param type>,
// which is this same type.
inline DType optimizer_state_dtype(DType param) {
  return (param == DType::Float16 || param == DType::BFloat16) ? DType::Float32 : param;
}

namespace optim_detail {

// Checks one tensor list of an update op against the parameter list: same length, every
// tensor defined, on the parameters' device, with the parameters' shapes and `dtype`.
// `what` names the list in errors ("grads", "momentum_buffers", ...).
void check_list_matches_params(const char* op, const char* what, const std::vector<Tensor>& list,
                               const std::vector<Tensor>& params, DType dtype);

// Checks the parameter list itself: non-empty tensors all defined, floating, and sharing the
// first parameter's device and dtype.
void check_param_list(const char* op, const std::vector<Tensor>& params);

}  // namespace optim_detail
}  // namespace ff
