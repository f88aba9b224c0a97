// Float64 finite-difference checks of combined_margin's analytic gradient. Cosines stay inside
// (-0.95, 0.95) so that the central differences never straddle the clamp, θ_b or the filter
// threshold (checked below), where the function has a kink.
#include <vector>

#include "models/heads/margin_heads.h"
#include "ops/margin/margin.h"
#include "ops/tensor_ops/fill.h"
#include "tests/common/gradcheck_registry.h"

namespace ff {
namespace {

using testing::leaf;
using V = std::vector<Tensor>;

Tensor labels_of(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return tensor_from(v, {n});
}

void check_margin(const MarginOptions& o, const Tensor& x, const Tensor& labels) {
  EXPECT_GRADCHECK("combined_margin", [&](const V& in) { return V{combined_margin(in[0], labels, o)}; }, {x});
}

FF_GRADCHECK_TEST(combined_margin, presets) {
  const Tensor labels = labels_of({0, 3, -1, 4, 2, 1});
  for (const char* name : {"arcface", "cosface", "combined", "softmax"}) {
    SCOPED_TRACE(name);
    check_margin(heads::margin_preset(name, 4.0), leaf({6, 5}, 11, -0.95, 0.95), labels);
  }
}

FF_GRADCHECK_TEST(combined_margin, general_m1_and_overflow_branch) {
  // m1 = 1.4, m2 = 0.6: θ_b = 1.81 rad (x = -0.24), so both branches are exercised.
  MarginOptions o = heads::from_margin_list(1.4, 0.6, 0.15, 3.0);
  const Tensor x = leaf({8, 3}, 12, -0.95, 0.95);
  const Tensor labels = labels_of({0, 1, 2, 0, 1, 2, -1, 0});
  for (MarginOverflow p :
       {MarginOverflow::kLinear, MarginOverflow::kPlain, MarginOverflow::kThMm, MarginOverflow::kEasyMargin}) {
    o.overflow = p;
    check_margin(o, x, labels);
  }
}

FF_GRADCHECK_TEST(combined_margin, filter_and_non_contiguous) {
  MarginOptions o = heads::arcface(2.0);
  o.interclass_filtering_threshold = 0.3;
  const Tensor labels = labels_of({1, -1, 0, 3});
  const Tensor base = leaf({5, 8}, 13, -0.95, 0.95);
  // With this seed no value lies within eps of the threshold, so no difference crosses the kink.
  EXPECT_GRADCHECK("combined_margin",
                   [&](const V& in) { return V{combined_margin(in[0].t().slice(0, 0, 8, 2), labels, o)}; }, {base});
}

}  // namespace
}  // namespace ff
