#include "data/verification/verification_bin.h"

#include <algorithm>

#include "data/common/file_io.h"
#include "data/verification/pickle_machine.h"
#include "data/verification/pickle_writer.h"
#include "framework/common/check.h"

namespace ff::data {

namespace {

constexpr size_t kPython2BatchSize = 1000;  // pickle._batch_appends

// Python 2's save_list: EMPTY_LIST, memoize, then batches (MARK items APPENDS, or item APPEND
// for a batch of one).
template <typename Item, typename SaveFn>
void write_list(PickleWriter& w, const std::vector<Item>& items, SaveFn save) {
  w.empty_list();
  w.memoize();
  for (size_t begin = 0; begin < items.size(); begin += kPython2BatchSize) {
    const size_t end = std::min(items.size(), begin + kPython2BatchSize);
    if (end - begin == 1) {
      save(items[begin]);
      w.append();
      continue;
    }
    w.mark();
    for (size_t i = begin; i < end; ++i) save(items[i]);
    w.appends();
  }
}

using Kind = PickleObject::Kind;

bool is_reconstruct(const PickleObject& fn) {
  return fn.kind == Kind::Global && fn.name == "_reconstruct" &&
         (fn.module == "numpy.core.multiarray" || fn.module == "numpy._core.multiarray");
}

bool is_frombuffer(const PickleObject& fn) {
  return fn.kind == Kind::Global && fn.name == "_frombuffer" &&
         (fn.module == "numpy.core.numeric" || fn.module == "numpy._core.numeric");
}

class BinInterpreter {
 public:
  BinInterpreter(const PickleMachine& m, size_t input_size) : m_(m), input_size_(input_size) {}

  [[noreturn]] void fail(const PickleObject& at, const std::string& what) const {
    FF_THROW("validation .bin '{}' (object made at byte offset {}): {}", m_.file(), at.offset, what);
  }

  const PickleObject& child(const PickleObject& parent, size_t i) const { return m_.object(parent.items.at(i)); }

  // A list element: bytes (lfw), or a numpy uint8 array from cv2.imencode (cfp_fp, agedb_30 in
  // the faces_emore release). numpy pickles an array in one of two ways:
  //   protocols 2-4: _reconstruct(ndarray, (0,), 'b') + BUILD (version, shape, dtype, is_fortran, raw)
  //   protocol 5:    _frombuffer(raw, dtype, shape, order)   (raw in-band, BYTEARRAY8 or BINBYTES)
  // with dtype = numpy.dtype('u1', ...) in both.
  std::vector<uint8_t> image_bytes(const PickleObject& e, size_t index) const {
    if (e.kind == Kind::Bytes) {
      return std::vector<uint8_t>(e.bytes(), e.bytes() + e.size);
    }
    if (e.kind == Kind::Reduce && is_frombuffer(child(e, 0))) {
      const PickleObject& args = child(e, 1);
      if (args.kind != Kind::Tuple || args.items.size() != 4) {
        fail(e, fmt::format("image {}: numpy _frombuffer arguments are not a 4-tuple", index));
      }
      return uint8_array(e, index, child(args, 2), child(args, 1), child(args, 0));
    }
    if (e.kind != Kind::Reduce || !is_reconstruct(child(e, 0))) {
      const std::string what = e.kind == Kind::Reduce ? child(e, 0).module + "." + child(e, 0).name : "";
      fail(e, fmt::format("image {} is a {}{}{}, expected bytes or a numpy uint8 array", index,
                          pickle_kind_name(e.kind), what.empty() ? "" : " of ", what));
    }
    if (e.state < 0) fail(e, fmt::format("image {}: numpy array without BUILD state", index));
    const PickleObject& state = m_.object(static_cast<uint32_t>(e.state));
    // numpy's __setstate__ takes (version, shape, dtype, is_fortran, raw) or the older 4-tuple.
    if (state.kind != Kind::Tuple || (state.items.size() != 5 && state.items.size() != 4)) {
      fail(e, fmt::format("image {}: numpy array state is not a 4- or 5-tuple", index));
    }
    const size_t n = state.items.size();
    return uint8_array(e, index, child(state, n - 4), child(state, n - 3), child(state, n - 1));
  }

  // The bytes of a numpy array element after checking its dtype (uint8) and shape (as many
  // elements as data bytes).
  std::vector<uint8_t> uint8_array(const PickleObject& e, size_t index, const PickleObject& shape,
                                   const PickleObject& dtype, const PickleObject& raw) const {
    if (dtype.kind != Kind::Reduce || child(dtype, 0).kind != Kind::Global || child(dtype, 0).name != "dtype") {
      fail(e, fmt::format("image {}: numpy array dtype is not a numpy.dtype", index));
    }
    const PickleObject& dtype_args = child(dtype, 1);
    const std::string code = dtype_args.items.empty() ? "" : child(dtype_args, 0).text();
    if (code != "u1" && code != "i1") {
      fail(e, fmt::format("image {}: numpy array has dtype '{}', expected 'u1' (uint8 JPEG bytes)", index, code));
    }
    if (raw.kind != Kind::Bytes) {
      fail(e, fmt::format("image {}: numpy array data is a {}, expected bytes", index, pickle_kind_name(raw.kind)));
    }
    if (shape.kind != Kind::Tuple) fail(e, fmt::format("image {}: numpy array shape is not a tuple", index));
    uint64_t elements = 1;
    for (uint32_t dim_id : shape.items) {
      const PickleObject& dim = m_.object(dim_id);
      if (dim.kind != Kind::Int || dim.int_value < 0 || dim.int_value > int64_t{1} << 40) {
        fail(e, fmt::format("image {}: numpy array shape holds a bad dimension", index));
      }
      elements *= static_cast<uint64_t>(dim.int_value);
      if (elements > raw.size) break;
    }
    if (elements != raw.size) {
      fail(e, fmt::format("image {}: numpy array shape has {} elements but {} data bytes", index, elements, raw.size));
    }
    return std::vector<uint8_t>(raw.bytes(), raw.bytes() + raw.size);
  }

  VerificationSet interpret(uint32_t root_id) const {
    const PickleObject& root = m_.object(root_id);
    if ((root.kind != Kind::Tuple && root.kind != Kind::List) || root.items.size() != 2) {
      fail(root, fmt::format("top-level object is a {} of {} items, expected the pair (images, issame_list)",
                             pickle_kind_name(root.kind), root.items.size()));
    }
    const PickleObject& images = child(root, 0);
    const PickleObject& issame = child(root, 1);
    if (images.kind != Kind::List && images.kind != Kind::Tuple) {
      fail(images, fmt::format("images are a {}, expected a list", pickle_kind_name(images.kind)));
    }
    if (issame.kind != Kind::List && issame.kind != Kind::Tuple) {
      fail(issame, fmt::format("issame_list is a {}, expected a list", pickle_kind_name(issame.kind)));
    }
    if (images.items.size() != 2 * issame.items.size()) {
      fail(images, fmt::format("{} images for {} pairs; expected exactly 2 images per pair", images.items.size(),
                               issame.items.size()));
    }
    VerificationSet set;
    set.issame.reserve(issame.items.size());
    for (size_t i = 0; i < issame.items.size(); ++i) {
      const PickleObject& b = child(issame, i);
      const bool ok = b.kind == Kind::Bool || (b.kind == Kind::Int && (b.int_value == 0 || b.int_value == 1));
      if (!ok) fail(b, fmt::format("issame_list[{}] is a {}, expected a bool", i, pickle_kind_name(b.kind)));
      set.issame.push_back(b.int_value != 0);
    }
    set.images.reserve(images.items.size());
    uint64_t total_bytes = 0;
    for (size_t i = 0; i < images.items.size(); ++i) {
      set.images.push_back(image_bytes(child(images, i), i));
      total_bytes += set.images.back().size();
      // Memo references (BINGET) can repeat one string many times; a real file stores every image
      // once, so more image bytes than file bytes means a corrupt or hostile file, not a dataset.
      if (total_bytes > input_size_) {
        fail(images, fmt::format("the first {} images hold {} bytes, more than the {}-byte file (repeated memo "
                                 "references?)", i + 1, total_bytes, input_size_));
      }
    }
    return set;
  }

 private:
  const PickleMachine& m_;
  size_t input_size_;
};

}  // namespace

std::string encode_verification_pickle(const VerificationSet& set) {
  FF_CHECK(set.images.size() == 2 * set.issame.size(),
           "verification set has {} images for {} pairs; expected exactly 2 images per pair", set.images.size(),
           set.issame.size());
  PickleWriter w;
  w.proto(2);
  write_list(w, set.images, [&](const std::vector<uint8_t>& image) {
    w.py2_str(std::string(image.begin(), image.end()));
    w.memoize();
  });
  // std::vector<bool> has no const& elements; copy into plain bools for write_list.
  const std::vector<char> issame(set.issame.begin(), set.issame.end());
  write_list(w, issame, [&](char same) { w.boolean(same != 0); });
  w.tuple2();
  w.memoize();
  w.stop();
  return w.bytes();
}

VerificationSet decode_verification_pickle(const uint8_t* data, size_t size, const std::string& file) {
  PickleMachine machine(data, size, file);
  const uint32_t root = machine.run();
  return BinInterpreter(machine, size).interpret(root);
}

void write_verification_bin(const std::string& path, const VerificationSet& set) {
  std::string bytes;
  try {
    bytes = encode_verification_pickle(set);
  } catch (const Error& e) {
    FF_THROW("cannot write validation .bin '{}': {}", path, e.what());
  }
  BufferedAtomicWriter out(path);
  out.write(bytes);
  out.commit();
}

VerificationSet read_verification_bin(const std::string& path) {
  const std::vector<uint8_t> bytes = read_whole_file(path);
  return decode_verification_pickle(bytes.data(), bytes.size(), path);
}

}  // namespace ff::data
