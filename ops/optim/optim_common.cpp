#include "ops/optim/optim_common.h"

#include "framework/autograd/autograd.h"

namespace ff::optim_detail {

void check_param_list(const char* op, const std::vector<Tensor>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    FF_CHECK(params[i].defined(), "{}: parameter {} is an undefined tensor", op, i);
    FF_CHECK(is_floating(params[i].dtype()), "{}: parameter {} is {}; only floating-point parameters can be updated",
             op, i, params[i].describe());
    FF_CHECK(params[i].device() == params[0].device() && params[i].dtype() == params[0].dtype(),
             "{}: all parameters in one call must share device and dtype; parameter 0 is {}, parameter {} is {}", op,
             params[0].describe(), i, params[i].describe());
    FF_CHECK(!(autograd::grad_mode_enabled() && params[i].requires_grad()),
             "{}: in-place update of parameter {} ({}), which requires grad, with grad mode on; wrap the call in "
             "autograd::NoGradGuard (Optimizer::step() does)",
             op, i, params[i].describe());
    // Parameters are written in place: an expanded view would write one element many times.
    for (int64_t d = 0; d < params[i].dim(); ++d) {
      FF_CHECK(params[i].stride(d) != 0 || params[i].size(d) <= 1,
               "{}: parameter {} ({}) is an expanded view (stride 0 in dim {}); it cannot be updated in place", op, i,
               params[i].describe(), d);
    }
  }
}

void check_list_matches_params(const char* op, const char* what, const std::vector<Tensor>& list,
                               const std::vector<Tensor>& params, DType dtype) {
  FF_CHECK(list.size() == params.size(), "{}: {} has {} tensors but there are {} parameters", op, what, list.size(),
           params.size());
  for (size_t i = 0; i < list.size(); ++i) {
    FF_CHECK(list[i].defined(), "{}: {}[{}] is an undefined tensor", op, what, i);
    FF_CHECK(list[i].sizes() == params[i].sizes() && list[i].dtype() == dtype &&
                 list[i].device() == params[i].device(),
             "{}: {}[{}] is {}, expected {}{} on {} to match parameter {} ({})", op, what, i, list[i].describe(),
             dtype_name(dtype), shape_str(params[i].sizes()), params[i].device().str(), i, params[i].describe());
  }
}

}  // namespace ff::optim_detail
