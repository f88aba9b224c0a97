// libFuzzer harness: validation .bin pickles (data/verification). Any input must load or throw
// ff::Error; anything else (a crash, another exception, a sanitizer report) is a finding.
#include <cstddef>
#include <cstdint>

#include "data/verification/verification_bin.h"
#include "framework/common/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ff::data::decode_verification_pickle(data, size, "fuzz.bin");
  } catch (const ff::Error&) {
  }
  return 0;
}
