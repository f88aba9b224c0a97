// InsightFace validation .bin files (lfw.bin, cfp_fp.bin, agedb_30.bin): a Python-2
// protocol-2 pickle of (list of image bytes, list of issame bools) (formats.md §2).
//
// CONTRACT for the data pipeline (implemented in data/verification/).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ff::data {

struct VerificationSet {
  std::vector<std::vector<uint8_t>> images;  // 2 * pairs encoded JPEGs: pair i = images[2i], images[2i+1]
  std::vector<bool> issame;                  // one per pair
};

// Writes the set as insightface does (pickle protocol 2: a tuple of a list of bytes and a list
// of bools). Atomic. Errors name the file.
void write_verification_bin(const std::string& path, const VerificationSet& set);

// Reads JPEG-bytes .bin files (and numpy uint8 array variants where formats.md says so).
// Errors name the file and the byte offset.
// Accepts Python 2 protocol-2 files as released, Python 3 re-saves (protocols 2-5) and numpy
// uint8-array elements (cv2.imencode output, as in faces_emore's cfp_fp/agedb_30); see
// pickle_machine.h for the opcode subset and docs/formats.md for the details.
VerificationSet read_verification_bin(const std::string& path);

// The same on in-memory bytes (`file` names the source in messages).
std::string encode_verification_pickle(const VerificationSet& set);
VerificationSet decode_verification_pickle(const uint8_t* data, size_t size, const std::string& file);

}  // namespace ff::data
