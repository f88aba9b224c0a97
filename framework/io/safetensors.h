// safetensors files: the tensor container of Hugging Face's `safetensors` library, used by
// FaceFlow for weights and training checkpoints.
//
// Layout (all integers little-endian):
//   bytes [0, 8)        N, uint64: the header length
//   bytes [8, 8 + N)    UTF-8 JSON object, padded with spaces (FaceFlow pads 8 + N to a multiple of 8):
//                         {"__metadata__": {"key": "value", ...},            (optional, strings only)
//                          "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//   bytes [8 + N, end)  the data section: each tensor's raw row-major bytes at [begin, end),
//                       offsets relative to the section start. The tensors cover the whole
//                       section without gaps or overlaps (as the format requires).
// dtypes: F32 F16 BF16 F64 I32 I64 U8 BOOL (the ones FaceFlow has).
//
// Saving writes tensors from any device and layout (copied to the host, contiguous), largest
// element size first so every tensor is aligned to its element size. It is atomic: the file
// is written to "<path>.tmp.<pid>", flushed and fsync'ed, then renamed over `path`; on any
// error the temporary file is removed and ff::Error is thrown, so an existing file at `path`
// is never damaged by a failed save.
//
// Loading validates everything and throws ff::Error naming the file (and the tensor): a
// truncated file, a header length beyond the file, malformed JSON (with the byte offset),
// unknown dtypes, bad shapes, offsets out of range / overlapping / leaving gaps / not
// matching shape x dtype size, duplicate names, invalid bool bytes. Tensors load on the CPU.
#pragma once

#include <map>
#include <string>

#include "framework/io/state_dict.h"

namespace ff {

using SafetensorsMetadata = std::map<std::string, std::string>;

struct SafetensorsContents {
  StateDict tensors;
  SafetensorsMetadata metadata;
};

void save_safetensors(const std::string& path, const StateDict& tensors, const SafetensorsMetadata& metadata = {});

SafetensorsContents load_safetensors(const std::string& path);

// Loads `path` into the existing tensors of `dst` (copy_ semantics: any device, dtype
// converted), checking shapes. strict: the file's names and dst's must match exactly;
// otherwise only the names present in both are loaded. Returns the file's metadata.
SafetensorsMetadata load_safetensors_into(const std::string& path, const StateDict& dst, bool strict = true);

// The safetensors dtype string ("F32", ...) of a FaceFlow dtype, and back (throws on unknown).
const char* safetensors_dtype_name(DType dtype);

}  // namespace ff
