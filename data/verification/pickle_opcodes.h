// The pickle opcodes FaceFlow reads and writes (byte values from CPython's Lib/pickle.py, as
// listed in formats.md §2.4). Anything else is rejected by name.
#pragma once

#include <cstdint>

namespace ff::data::pickle_op {

inline constexpr uint8_t kMark = '(';
inline constexpr uint8_t kStop = '.';
inline constexpr uint8_t kPop = '0';
inline constexpr uint8_t kInt = 'I';  // protocol 0/1 text int; "I01\n"/"I00\n" are the old bools
inline constexpr uint8_t kBinInt = 'J';
inline constexpr uint8_t kBinInt1 = 'K';
inline constexpr uint8_t kBinInt2 = 'M';
inline constexpr uint8_t kNone = 'N';
inline constexpr uint8_t kReduce = 'R';
inline constexpr uint8_t kBinString = 'T';
inline constexpr uint8_t kShortBinString = 'U';
inline constexpr uint8_t kBinUnicode = 'X';
inline constexpr uint8_t kAppend = 'a';
inline constexpr uint8_t kBuild = 'b';
inline constexpr uint8_t kGlobal = 'c';
inline constexpr uint8_t kAppends = 'e';
inline constexpr uint8_t kBinGet = 'h';
inline constexpr uint8_t kLongBinGet = 'j';
inline constexpr uint8_t kEmptyList = ']';
inline constexpr uint8_t kBinPut = 'q';
inline constexpr uint8_t kLongBinPut = 'r';
inline constexpr uint8_t kTuple = 't';
inline constexpr uint8_t kEmptyTuple = ')';
inline constexpr uint8_t kBinBytes = 'B';
inline constexpr uint8_t kShortBinBytes = 'C';
// Protocol 2
inline constexpr uint8_t kProto = 0x80;
inline constexpr uint8_t kLong1 = 0x8A;
inline constexpr uint8_t kTuple1 = 0x85;
inline constexpr uint8_t kTuple2 = 0x86;
inline constexpr uint8_t kTuple3 = 0x87;
inline constexpr uint8_t kNewTrue = 0x88;
inline constexpr uint8_t kNewFalse = 0x89;
// Protocol 4
inline constexpr uint8_t kShortBinUnicode = 0x8C;
inline constexpr uint8_t kBinUnicode8 = 0x8D;
inline constexpr uint8_t kBinBytes8 = 0x8E;
inline constexpr uint8_t kStackGlobal = 0x93;
inline constexpr uint8_t kMemoize = 0x94;
inline constexpr uint8_t kFrame = 0x95;
// Protocol 5: numpy >= 1.16 pickles a writable array's data in-band as BYTEARRAY8.
inline constexpr uint8_t kByteArray8 = 0x96;

// "PROTO", "BINSTRING", ... or "unknown" for a byte that is not one of ours.
const char* opcode_name(uint8_t op);

}  // namespace ff::data::pickle_op
