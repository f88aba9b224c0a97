// Pickle fixtures shared by the .bin tests and the mutation fuzz test.
#pragma once

#include <string>
#include <vector>

#include "data/verification/pickle_writer.h"

namespace ff::testing {

// pickle.dumps(([b'\xff\xd8AB', b'\xff\xd8CD', b'\xff\xd8\xe9F', b'\xff\xd8GH'], [True, False]), protocol=P)
// from CPython 3.11: the forms a Python 3 re-save of a .bin takes.
inline const char* kPython3Protocol2 =
    "80 02 5D 71 00 28 63 5F 63 6F 64 65 63 73 0A 65 6E 63 6F 64 65 0A 71 01 58 06 00 00 00 C3 BF C3 98 41 42 71 02 58 "
    "06 00 00 00 6C 61 74 69 6E 31 71 03 86 71 04 52 71 05 68 01 58 06 00 00 00 C3 BF C3 98 43 44 71 06 68 03 86 71 07 "
    "52 71 08 68 01 58 07 00 00 00 C3 BF C3 98 C3 A9 46 71 09 68 03 86 71 0A 52 71 0B 68 01 58 06 00 00 00 C3 BF C3 98 "
    "47 48 71 0C 68 03 86 71 0D 52 71 0E 65 5D 71 0F 28 88 89 65 86 71 10 2E";
inline const char* kPython3Protocol3 =
    "80 03 5D 71 00 28 43 04 FF D8 41 42 71 01 43 04 FF D8 43 44 71 02 43 04 FF D8 E9 46 71 03 43 04 FF D8 47 48 71 04 "
    "65 5D 71 05 28 88 89 65 86 71 06 2E";
inline const char* kPython3Protocol4 =
    "80 04 95 29 00 00 00 00 00 00 00 5D 94 28 43 04 FF D8 41 42 94 43 04 FF D8 43 44 94 43 04 FF D8 E9 46 94 43 04 FF "
    "D8 47 48 94 65 5D 94 28 88 89 65 86 94 2E";

// A cv2.imencode element as Python 2 numpy pickles it (formats.md §2.4 (c)):
// _reconstruct(ndarray, (0,), 'b') + BUILD (1, (n, 1), dtype('u1', 0, 1) + BUILD(3, '|', ...), False, raw).
// Globals are memoized on first use and fetched with BINGET afterwards, as Python 2 does.
struct NumpyPickler {
  data::PickleWriter w;
  int64_t reconstruct_memo = -1, ndarray_memo = -1, dtype_memo = -1;
  std::string dtype_code = "u1";

  void global(int64_t& memo, const std::string& module, const std::string& name) {
    if (memo >= 0) return w.get(static_cast<uint32_t>(memo));
    w.global(module, name);
    memo = w.memoize();
  }
  void array(const std::string& raw) {
    global(reconstruct_memo, "numpy.core.multiarray", "_reconstruct");
    global(ndarray_memo, "numpy", "ndarray");
    w.int_(0);
    w.raw(0x85);  // TUPLE1
    w.memoize();
    w.py2_str("b");
    w.memoize();
    w.raw(0x87);  // TUPLE3
    w.memoize();
    w.reduce();
    w.memoize();
    w.mark();
    w.int_(1);
    w.int_(static_cast<int64_t>(raw.size()));
    w.int_(1);
    w.tuple2();
    w.memoize();
    global(dtype_memo, "numpy", "dtype");
    w.py2_str(dtype_code);
    w.memoize();
    w.int_(0);
    w.int_(1);
    w.raw(0x87);
    w.memoize();
    w.reduce();
    w.memoize();
    w.mark();
    w.int_(3);
    w.py2_str("|");
    w.memoize();
    w.none();
    w.none();
    w.none();
    w.int_(-1);
    w.int_(-1);
    w.int_(0);
    w.tuple();
    w.memoize();
    w.build();
    w.boolean(false);
    w.py2_str(raw);
    w.memoize();
    w.tuple();
    w.memoize();
    w.build();
  }
  std::string file(const std::vector<std::string>& raws, const std::vector<bool>& issame) {
    w.proto(2);
    w.empty_list();
    w.memoize();
    w.mark();
    for (const auto& r : raws) array(r);
    w.appends();
    w.empty_list();
    w.memoize();
    w.mark();
    for (bool b : issame) w.boolean(b);
    w.appends();
    w.tuple2();
    w.memoize();
    w.stop();
    return w.bytes();
  }
};

}  // namespace ff::testing
