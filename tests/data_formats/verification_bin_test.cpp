// Validation .bin files (formats.md §2): the protocol-2 pickle insightface writes, the Python 3
// and numpy variants, and corrupt pickles.
#include <gtest/gtest.h>

#include "data/verification/pickle_machine.h"
#include "data/verification/pickle_opcodes.h"
#include "data/verification/pickle_writer.h"
#include "data/verification/verification_bin.h"
#include "tests/data_formats/data_formats_test_util.h"
#include "tests/data_formats/pickle_fixtures.h"

namespace ff::data {
namespace {

using ff::testing::hex_bytes;
using ff::testing::kPython3Protocol2;
using ff::testing::kPython3Protocol3;
using ff::testing::kPython3Protocol4;
using ff::testing::NumpyPickler;
using ff::testing::TempDir;
using ff::testing::to_vec;
using ff::testing::write_bytes;

VerificationSet small_set(int pairs, size_t image_size = 300) {
  VerificationSet set;
  for (int i = 0; i < 2 * pairs; ++i) set.images.push_back(ff::testing::fake_jpeg(static_cast<uint32_t>(i), image_size));
  for (int i = 0; i < pairs; ++i) set.issame.push_back(i % 3 != 0);
  return set;
}

// formats.md §2.4 minimal example: bins = ['AB', 'CD'], issame = [True].
const char* kMinimalVector = "80 02 5D 71 00 28 55 02 41 42 71 01 55 02 43 44 71 02 65 5D 71 03 88 61 86 71 04 2E";

TEST(VerificationBin, WriterMatchesTheFormatsMdVector) {
  VerificationSet set;
  set.images = {to_vec("AB"), to_vec("CD")};
  set.issame = {true};
  EXPECT_EQ(encode_verification_pickle(set), hex_bytes(kMinimalVector));
}

TEST(VerificationBin, ReaderDecodesTheFormatsMdVector) {
  const std::string bytes = hex_bytes(kMinimalVector);
  const VerificationSet set =
      decode_verification_pickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "vector");
  ASSERT_EQ(set.images.size(), 2u);
  EXPECT_EQ(set.images[0], to_vec("AB"));
  EXPECT_EQ(set.images[1], to_vec("CD"));
  ASSERT_EQ(set.issame.size(), 1u);
  EXPECT_TRUE(set.issame[0]);
}

TEST(VerificationBin, FileRoundTrip) {
  TempDir dir;
  // 1300 pairs: more than one 1000-item APPENDS batch, memo indices past 255 (LONG_BINPUT) and
  // images of 300 bytes (BINSTRING).
  const VerificationSet set = small_set(1300);
  write_verification_bin(dir.file("lfw.bin"), set);
  const VerificationSet back = read_verification_bin(dir.file("lfw.bin"));
  EXPECT_EQ(back.images, set.images);
  EXPECT_EQ(back.issame, set.issame);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"lfw.bin"});  // no temporary left behind
}

VerificationSet decode(const std::string& bytes) {
  return decode_verification_pickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.bin");
}

TEST(VerificationBin, ReadsPython3Resaves) {
  const std::vector<std::vector<uint8_t>> images = {
      to_vec(hex_bytes("FF D8 'AB'")), to_vec(hex_bytes("FF D8 'CD'")), to_vec(hex_bytes("FF D8 E9 'F'")),
      to_vec(hex_bytes("FF D8 'GH'"))};
  for (const char* vector : {kPython3Protocol2, kPython3Protocol3, kPython3Protocol4}) {
    const VerificationSet set = decode(hex_bytes(vector));
    EXPECT_EQ(set.images, images);
    EXPECT_EQ(set.issame, (std::vector<bool>{true, false}));
  }
  std::string protocol5 = hex_bytes(kPython3Protocol4);
  protocol5[1] = 5;  // protocol 5 writes the same opcodes for these objects
  EXPECT_EQ(decode(protocol5).images, images);
}

TEST(VerificationBin, ReadsProtocol0Bools) {
  // issame as protocol-0/1 INT "I01\n" / "I00\n" (Python 2 bools before protocol 2).
  EXPECT_EQ(decode(hex_bytes("80 02 5D 28 55 01 'A' 55 01 'B' 55 01 'C' 55 01 'D' 65 5D 28 'I01' 0A 'I00' 0A 65 86 2E"))
                .issame,
            (std::vector<bool>{true, false}));
}

TEST(VerificationBin, ReadsNumpyArrayElements) {
  const std::string a(300, 'a'), b = "\xFF\xD8short", c(1000, 'c'), d = "d";
  const VerificationSet set = decode(NumpyPickler().file({a, b, c, d}, {false, true}));
  ASSERT_EQ(set.images.size(), 4u);
  EXPECT_EQ(set.images[0], to_vec(a));
  EXPECT_EQ(set.images[1], to_vec(b));
  EXPECT_EQ(set.images[2], to_vec(c));
  EXPECT_EQ(set.images[3], to_vec(d));
  EXPECT_EQ(set.issame, (std::vector<bool>{false, true}));

  NumpyPickler floats;
  floats.dtype_code = "f4";
  EXPECT_FF_ERROR(decode(floats.file({a, b}, {true})), "t.bin", "image 0: numpy array has dtype 'f4'");
}

TEST(VerificationBin, ReadsProtocol4NumpyElements) {
  // STACK_GLOBAL with SHORT_BINUNICODE names, MEMOIZE, SHORT_BINBYTES data: a Python 3 re-save.
  auto str = [](const std::string& s) { return hex_bytes("8C") + std::string(1, static_cast<char>(s.size())) + s; };
  auto bytes = [](const std::string& s) { return hex_bytes("43") + std::string(1, static_cast<char>(s.size())) + s; };
  const std::string element = str("numpy.core.multiarray") + str("_reconstruct") + hex_bytes("93 94") +
                              str("numpy") + str("ndarray") + hex_bytes("93 94") + hex_bytes("4B 00 85 94") +
                              bytes("b") + hex_bytes("87 94 52 94") +
                              hex_bytes("28 4B 01 4B 03 85 94") + str("numpy") + str("dtype") + hex_bytes("93 94") +
                              str("u1") + hex_bytes("89 88 87 94 52 94") + hex_bytes("28 4B 03") + str("|") +
                              hex_bytes("4E 4E 4E 4A FF FF FF FF 4A FF FF FF FF 4B 00 74 94 62") + hex_bytes("89") +
                              bytes("xyz") + hex_bytes("74 94 62");
  const std::string file = hex_bytes("80 04 95 00 00 00 00 00 00 00 00 5D 94 28") + element + element +
                           hex_bytes("65 5D 94 88 61 86 94 2E");
  const VerificationSet set = decode(file);
  EXPECT_EQ(set.images, (std::vector<std::vector<uint8_t>>{to_vec("xyz"), to_vec("xyz")}));
  EXPECT_EQ(set.issame, std::vector<bool>{true});
}

TEST(VerificationBin, EveryTruncationIsAnError) {
  const std::string bytes = hex_bytes(kMinimalVector);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FF_ERROR(decode(bytes.substr(0, n)), "pickle 't.bin' at byte offset") << n;
  }
}

TEST(VerificationBin, CorruptPicklesNameOffsetAndOpcode) {
  std::string bytes = hex_bytes(kMinimalVector);
  bytes[22] = '}';  // EMPTY_DICT instead of NEWTRUE
  EXPECT_FF_ERROR(decode(bytes), "pickle 't.bin' at byte offset 22, opcode 0x7D (unknown)", "unsupported opcode");
  EXPECT_FF_ERROR(decode(hex_bytes("80 02 5D 54 FF FF FF FF")), "byte offset 3, opcode 0x54 (BINSTRING)",
                  "negative length -1");
  EXPECT_FF_ERROR(decode(hex_bytes("80 02 5D 54 10 00 00 00 'abc'")), "byte offset 3, opcode 0x54 (BINSTRING)",
                  "BINSTRING data needs 16 bytes but only 3 remain");
  EXPECT_FF_ERROR(decode(hex_bytes("80 02 68 07")), "byte offset 2, opcode 0x68 (BINGET)", "memo index 7");
  EXPECT_FF_ERROR(decode(hex_bytes("80 02 61")), "opcode 0x61 (APPEND)", "stack underflow");
  EXPECT_FF_ERROR(decode(hex_bytes("80 02 65")), "opcode 0x65 (APPENDS)", "no MARK");
  EXPECT_FF_ERROR(decode(hex_bytes("80 09")), "unsupported pickle protocol 9");
  EXPECT_FF_ERROR(decode(hex_bytes("80 02 5D 5D 88 86 2E")), "bool", "expected a list");  // issame not a list
}

TEST(VerificationBin, StructureErrors) {
  // 3 images for 1 pair.
  EXPECT_FF_ERROR(decode(hex_bytes("80 02 5D 28 55 01 'A' 55 01 'B' 55 01 'C' 65 5D 88 61 86 2E")),
                  "validation .bin 't.bin'", "3 images for 1 pairs");
  // An int where an image belongs.
  EXPECT_FF_ERROR(decode(hex_bytes("80 02 5D 28 55 01 'A' 4B 07 65 5D 88 61 86 2E")), "image 1 is a int");
  // An int where a bool belongs.
  EXPECT_FF_ERROR(decode(hex_bytes("80 02 5D 28 55 01 'A' 55 01 'B' 65 5D 4B 07 61 86 2E")), "issame_list[0] is a int");
  // Top level is not a pair.
  EXPECT_FF_ERROR(decode(hex_bytes("80 02 5D 2E")), "top-level object is a list of 0 items");
  // One 300-byte string referenced 20 times: more image bytes than the file holds.
  PickleWriter w;
  w.proto(2);
  w.empty_list();
  w.memoize();
  w.mark();
  w.py2_str(std::string(300, 'x'));
  const uint32_t memo = w.memoize();
  for (int i = 0; i < 19; ++i) w.get(memo);
  w.appends();
  w.empty_list();
  w.mark();
  for (int i = 0; i < 10; ++i) w.boolean(true);
  w.appends();
  w.tuple2();
  w.stop();
  EXPECT_FF_ERROR(decode(w.bytes()), "more than the", "repeated memo references");
}

TEST(VerificationBin, TraceListsOpcodes) {
  const std::string bytes = hex_bytes(kMinimalVector);
  PickleMachine machine(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.bin");
  std::vector<std::string> lines;
  machine.set_trace([&](uint64_t offset, uint8_t op, const std::string& note) {
    lines.push_back(fmt::format("{} {} {}", offset, pickle_op::opcode_name(op), note));
  });
  machine.run();
  ASSERT_EQ(lines.size(), 16u);
  EXPECT_EQ(lines[0], "0 PROTO protocol 2");
  EXPECT_EQ(lines[4], "6 SHORT_BINSTRING 2 bytes");
  EXPECT_EQ(lines[15], "27 STOP stack 1");
}

TEST(VerificationBin, FileErrors) {
  TempDir dir;
  EXPECT_FF_ERROR(read_verification_bin(dir.file("missing.bin")), dir.file("missing.bin"), "cannot open");
  VerificationSet bad = small_set(2);
  bad.issame.push_back(true);
  EXPECT_FF_ERROR(write_verification_bin(dir.file("bad.bin"), bad), dir.file("bad.bin"), "4 images for 3 pairs");
  EXPECT_TRUE(dir.entries().empty());
  write_bytes(dir.file("trunc.bin"), hex_bytes(kMinimalVector).substr(0, 20));
  EXPECT_FF_ERROR(read_verification_bin(dir.file("trunc.bin")), dir.file("trunc.bin"), "byte offset 20",
                  "ends before the STOP opcode");
}

}  // namespace
}  // namespace ff::data
