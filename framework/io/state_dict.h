// Named tensors: what modules, optimizers and checkpoints exchange.
#pragma once

#include <map>
#include <string>

#include "framework/core/tensor.h"

namespace ff {

// Keys are dotted paths ("layer1.0.conv1.weight"); std::map keeps them sorted, so saving is
// deterministic.
using StateDict = std::map<std::string, Tensor>;

}  // namespace ff
