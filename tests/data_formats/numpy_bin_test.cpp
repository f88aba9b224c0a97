// Validation .bin files whose images are numpy uint8 arrays (faces_emore's cfp_fp / agedb_30),
// made by numpy itself: committed fixtures (tests/data_formats/fixtures/, written by
// make_numpy_bin.py with numpy 1.24) and, when python3-numpy is present, files made now from
// JPEGs encoded here, in every pickle form numpy produces (Python 2 style, protocols 2-5).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "data/decode/jpeg.h"
#include "data/verification/verification_bin.h"
#include "tests/data_formats/data_formats_test_util.h"

namespace ff::data {
namespace {

using ff::testing::TempDir;

const std::string kHere = std::filesystem::path(__FILE__).parent_path().string();

// fixtures/numpy_*.bin hold four 16x16 JPEGs from make_synthetic (quality 50) as (n, 1) uint8
// arrays, issame = [True, False].
TEST(NumpyBin, CommittedFixturesFromEveryPickleForm) {
  const std::vector<size_t> expected_sizes = {667, 662, 690, 670};
  VerificationSet first;
  for (const char* name : {"numpy_py2_protocol2.bin", "numpy_py3_protocol2.bin", "numpy_py3_protocol4.bin",
                           "numpy_py3_protocol5.bin"}) {
    SCOPED_TRACE(name);
    const VerificationSet set = read_verification_bin(kHere + "/fixtures/" + name);
    ASSERT_EQ(set.images.size(), 4u);
    EXPECT_EQ(set.issame, (std::vector<bool>{true, false}));
    for (size_t i = 0; i < set.images.size(); ++i) {
      EXPECT_EQ(set.images[i].size(), expected_sizes[i]) << "image " << i;
      const RgbImage img = decode_jpeg(set.images[i], name);
      EXPECT_EQ(img.height, 16);
      EXPECT_EQ(img.width, 16);
    }
    if (first.images.empty()) {
      first = set;
    } else {
      EXPECT_EQ(set.images, first.images) << "differs from numpy_py2_protocol2.bin";
    }
  }
}

bool numpy_available() { return std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") == 0; }

TEST(NumpyBin, FilesMadeByNumpyNowReadBackExactly) {
  if (!numpy_available()) {
    GTEST_SKIP() << "no /usr/bin/python3 with numpy (scripts/setup.sh installs python3-numpy); the committed "
                    "fixtures above still cover the format";
  }
  TempDir dir;
  // Six images of different sizes and content: three pairs.
  std::vector<std::vector<uint8_t>> jpegs;
  std::string args;
  for (int i = 0; i < 6; ++i) {
    RgbImage img(20 + 4 * i, 24);
    for (size_t p = 0; p < img.pixels.size(); ++p) img.pixels[p] = static_cast<uint8_t>((p * 13 + 40 * i) % 256);
    jpegs.push_back(encode_jpeg(img, 90));
    const std::string path = dir.file("img" + std::to_string(i) + ".jpg");
    ff::testing::write_bytes(path, std::string(jpegs.back().begin(), jpegs.back().end()));
    args += " " + path;
  }
  struct Variant {
    const char* flags;
    const char* what;
  };
  const Variant variants[] = {
      {"--style py2", "Python 2 protocol 2 (as released)"},
      {"--style py3 --protocol 2", "Python 3 protocol 2 (_codecs.encode bytes)"},
      {"--style py3 --protocol 3", "Python 3 protocol 3"},
      {"--style py3 --protocol 4", "Python 3 protocol 4 (the default)"},
      {"--style py3 --protocol 5", "protocol 5, writable arrays (_frombuffer + BYTEARRAY8)"},
      {"--style py3 --protocol 5 --readonly", "protocol 5, read-only arrays (_frombuffer + bytes)"},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.what);
    const std::string out = dir.file("set.bin");
    const std::string cmd = "/usr/bin/python3 " + kHere + "/make_numpy_bin.py --out " + out + " --issame 0,1,1 " +
                            v.flags + args;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const VerificationSet set = read_verification_bin(out);
    EXPECT_EQ(set.issame, (std::vector<bool>{false, true, true}));
    ASSERT_EQ(set.images.size(), jpegs.size());
    for (size_t i = 0; i < jpegs.size(); ++i) EXPECT_EQ(set.images[i], jpegs[i]) << "image " << i;
    EXPECT_EQ(decode_jpeg(set.images[5], "image 5").height, 40);
  }
}

// A numpy array of a dtype other than uint8 is refused with the element and dtype named.
TEST(NumpyBin, NonUint8ArrayIsRefusedByName) {
  if (!numpy_available()) GTEST_SKIP() << "no /usr/bin/python3 with numpy (scripts/setup.sh installs python3-numpy)";
  TempDir dir;
  const std::string out = dir.file("float.bin");
  for (const char* protocol : {"2", "5"}) {
    SCOPED_TRACE(protocol);
    const std::string cmd = std::string("/usr/bin/python3 -c \"import numpy as np, pickle; pickle.dump(([np.zeros(3, "
                                        "np.uint8), np.zeros(3, np.float32)], [True]), open('") +
                            out + "', 'wb'), protocol=" + protocol + ")\"";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    try {
      read_verification_bin(out);
      FAIL() << "expected ff::Error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("float.bin"), std::string::npos) << msg;
      EXPECT_NE(msg.find("image 1"), std::string::npos) << msg;
      EXPECT_NE(msg.find("'f4'"), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace ff::data
