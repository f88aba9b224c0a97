// Helpers for the apps/val tests: a scratch directory and running the val binary.
#pragma once

#include <string>

#include "tests/common/subprocess.h"

namespace ff::testing {

// A scratch directory named after the test ("ff_apps_val_<name>_<pid>").
class ValTempDir : public ScopedTempDir {
 public:
  explicit ValTempDir(const std::string& name) : ScopedTempDir("ff_apps_val_" + name) {}
};

}  // namespace ff::testing
