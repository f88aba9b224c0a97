#include "tests/common/gradcheck_registry.h"

#include "ops/tensor_ops/random.h"

namespace ff::testing {

std::set<std::string>& gradcheck_covered_ops() {
  static std::set<std::string> ops;
  return ops;
}

bool register_gradcheck(const char* op) {
  gradcheck_covered_ops().insert(op);
  return true;
}

::testing::AssertionResult check_gradients(const std::string& op, const autograd::MultiFn& f,
                                           const std::vector<Tensor>& inputs, const autograd::GradcheckOptions& opts) {
  const autograd::GradcheckResult r = autograd::gradcheck(f, inputs, opts);
  if (!r.ops_seen.count(op)) {
    std::string seen;
    for (const auto& s : r.ops_seen) seen += s + " ";
    return ::testing::AssertionFailure() << "gradcheck for '" << op << "': the checked graph never ran it (saw: "
                                         << seen << ")";
  }
  if (!r.ok) return ::testing::AssertionFailure() << "gradcheck for '" << op << "' failed: " << r.message;
  return ::testing::AssertionSuccess() << "max abs error " << r.max_abs_error;
}

Tensor leaf(const Shape& shape, uint64_t seed, double lo, double hi) {
  Generator g(seed);
  Tensor t = uniform(shape, lo, hi, DType::Float64, Device(), &g);
  t.set_requires_grad(true);
  return t;
}

}  // namespace ff::testing
