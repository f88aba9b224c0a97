// safetensors: round trips of every dtype and layout, files laid out by hand the way Python's
// safetensors writes them, corruption detection and atomic saving.
#include "framework/io/safetensors.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "ops/tensor_ops/fill.h"
#include "tests/io/io_test_util.h"

namespace ff {
namespace {

using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

// The raw bytes of a tensor's elements in row-major order.
std::string element_bytes(const Tensor& t) {
  const Tensor c = t.detach().contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel()) * c.element_size());
}

Tensor ints(const std::vector<int64_t>& v, const Shape& shape, DType dtype) {
  return tensor_from(v, shape).to(dtype);
}

StateDict every_dtype() {
  StateDict sd;
  sd["f32"] = tensor_from(std::vector<float>{1.5f, -2.25f, 3.0f, 0.1f, -0.0f, 1e30f}, {2, 3});
  sd["f64"] = tensor_from(std::vector<double>{1.0 / 3.0, -1e-300, 2.5, 7.0}, {4});
  sd["f16"] = tensor_from(std::vector<float>{1.0f, -2.0f, 0.5f, 65504.0f}, {2, 2}).to(DType::Float16);
  sd["bf16"] = tensor_from(std::vector<float>{1.0f, -3.5f, 1e20f}, {3}).to(DType::BFloat16);
  sd["i32"] = ints({1, -2, 2147483647}, {3}, DType::Int32);
  sd["i64"] = ints({-9223372036854775807LL, 42}, {2}, DType::Int64);
  sd["u8"] = ints({0, 7, 255, 128}, {4}, DType::UInt8);
  sd["bool"] = ints({1, 0, 1}, {3}, DType::Bool);
  sd["scalar"] = full({}, 2.5, DType::Float32);  // 0-d
  sd["empty"] = zeros({0, 3}, DType::Float32);   // no elements
  sd["empty_i64"] = zeros({5, 0}, DType::Int64);
  // Non-contiguous views: written contiguous.
  Tensor base = tensor_from(std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  sd["transposed"] = base.t();                   // [4, 3]
  sd["strided"] = base.slice(1, 0, 4, 2);        // [3, 2], every other column
  sd["nested.name.with.dots"] = full({1}, 1.0, DType::Float64);
  return sd;
}

// The JSON header's length: the little-endian u64 that a safetensors file starts with.
uint64_t header_length(const std::string& file_bytes) {
  uint64_t n = 0;
  std::memcpy(&n, file_bytes.data(), 8);
  return n;
}

// every_dtype() as save_safetensors writes it, for the tests that cut or corrupt the bytes.
std::string saved_every_dtype_bytes(const TempDir& dir) {
  const std::string good = dir.file("good.safetensors");
  save_safetensors(good, every_dtype(), {{"k", "v"}});
  return read_bytes(good);
}

void expect_same(const StateDict& expected, const StateDict& actual) {
  ASSERT_EQ(expected.size(), actual.size());
  for (const auto& [name, t] : expected) {
    ASSERT_TRUE(actual.count(name)) << name;
    const Tensor& a = actual.at(name);
    EXPECT_EQ(a.dtype(), t.dtype()) << name;
    EXPECT_EQ(a.sizes(), t.sizes()) << name;
    // (Empty tensors are skipped: core's is_contiguous() says false for e.g. a fresh [5, 0].)
    EXPECT_TRUE(a.numel() == 0 || a.is_contiguous()) << name;
    EXPECT_EQ(element_bytes(a), element_bytes(t)) << name;
  }
}

TEST(Safetensors, RoundTripsEveryDtypeAndLayout) {
  TempDir dir;
  const std::string path = dir.file("all.safetensors");
  const StateDict sd = every_dtype();
  save_safetensors(path, sd, {{"format", "pt"}, {"note", "quote \" backslash \\ newline \n unicode \xc3\xa9"}});
  const SafetensorsContents loaded = load_safetensors(path);
  expect_same(sd, loaded.tensors);
  EXPECT_EQ(loaded.metadata.at("format"), "pt");
  EXPECT_EQ(loaded.metadata.at("note"), "quote \" backslash \\ newline \n unicode \xc3\xa9");
  EXPECT_EQ(to_vector<double>(loaded.tensors.at("transposed")),
            (std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  // Layout: the data section starts 8-byte aligned, and no temporary file is left behind.
  const std::string bytes = read_bytes(path);
  EXPECT_EQ((8 + header_length(bytes)) % 8, 0u);
  EXPECT_EQ(bytes[8], '{');
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"all.safetensors"});
}

TEST(Safetensors, EmptyDictAndOverwrite) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  save_safetensors(path, {});
  EXPECT_TRUE(load_safetensors(path).tensors.empty());
  save_safetensors(path, {{"w", full({2}, 3.0, DType::Float32)}});  // replaces the old file
  EXPECT_EQ(to_vector<double>(load_safetensors(path).tensors.at("w")), (std::vector<double>{3.0, 3.0}));
}

// A file laid out by hand: 8-byte little-endian header length, JSON header padded with
// spaces, data. Python's safetensors writes __metadata__ first, the tensors in an order of its
// choosing, and pads to 8 bytes; readers must not depend on any of that.
std::string make_file(const std::string& header, const std::string& data, bool pad = true) {
  std::string h = header;
  if (pad) h.append((8 - h.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t n = h.size();
  for (int k = 0; k < 8; ++k, n >>= 8) out[static_cast<size_t>(k)] = static_cast<char>(n & 0xff);
  return out + h + data;
}

std::string le_bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s += static_cast<char>(b);
  return s;
}

TEST(Safetensors, LoadsAFileLaidOutByPythonRules) {
  TempDir dir;
  const std::string path = dir.file("python.safetensors");
  // "b": F32 [2] = [1.0, -2.0] at [0, 8); "w": F16 [2, 2] = [1, -2, 0.5, 0] at [8, 16);
  // "m": BF16 [1] = [1.0] at [16, 18); "flag": BOOL [2] at [18, 20); "e": I64 [0] at [20, 20).
  const std::string header =
      R"({"__metadata__": {"format": "pt"}, "w": {"dtype": "F16", "shape": [2, 2], "data_offsets": [8, 16]}, )"
      R"("b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "m": {"dtype": "BF16", "shape": [1], )"
      R"("data_offsets": [16, 18]}, "flag": {"dtype": "BOOL", "shape": [2], "data_offsets": [18, 20]}, )"
      R"("e": {"dtype": "I64", "shape": [0], "data_offsets": [20, 20]}})";
  const std::string data = le_bytes({0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0}) +  // f32 1.0, -2.0
                           le_bytes({0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0x00, 0x00}) +  // f16 1, -2, 0.5, 0
                           le_bytes({0x80, 0x3f}) +                                      // bf16 1.0
                           le_bytes({0x01, 0x00});                                       // true, false
  write_bytes(path, make_file(header, data));
  const SafetensorsContents c = load_safetensors(path);
  EXPECT_EQ(c.metadata.at("format"), "pt");
  EXPECT_EQ(c.tensors.at("b").dtype(), DType::Float32);
  EXPECT_EQ(to_vector<double>(c.tensors.at("b")), (std::vector<double>{1.0, -2.0}));
  EXPECT_EQ(c.tensors.at("w").dtype(), DType::Float16);
  EXPECT_EQ(c.tensors.at("w").sizes(), (Shape{2, 2}));
  EXPECT_EQ(to_vector<double>(c.tensors.at("w")), (std::vector<double>{1.0, -2.0, 0.5, 0.0}));
  EXPECT_EQ(to_vector<double>(c.tensors.at("m")), (std::vector<double>{1.0}));
  EXPECT_EQ(to_vector<double>(c.tensors.at("flag")), (std::vector<double>{1.0, 0.0}));
  EXPECT_EQ(c.tensors.at("e").numel(), 0);
  // Without padding (older writers) is fine too.
  write_bytes(path, make_file(header, data, /*pad=*/false));
  EXPECT_EQ(load_safetensors(path).tensors.size(), 5u);
}

TEST(Safetensors, DetectsTruncation) {
  TempDir dir;
  const std::string bytes = saved_every_dtype_bytes(dir);
  const uint64_t header_len = header_length(bytes);
  const std::string path = dir.file("cut.safetensors");
  for (size_t cut : {size_t{0}, size_t{5}, size_t{8}, size_t{9}, static_cast<size_t>(8 + header_len / 2),
                     static_cast<size_t>(8 + header_len), static_cast<size_t>(8 + header_len + 3), bytes.size() - 1}) {
    write_bytes(path, bytes.substr(0, cut));
    EXPECT_FF_ERROR(load_safetensors(path), "safetensors file '" + path + "'") << "truncated at " << cut;
  }
  write_bytes(path, bytes.substr(0, 4));
  EXPECT_FF_ERROR(load_safetensors(path), "shorter than the 8-byte header length");
  write_bytes(path, bytes.substr(0, 8 + header_len / 2));
  EXPECT_FF_ERROR(load_safetensors(path), "larger than the rest of the file");
  write_bytes(path, bytes.substr(0, bytes.size() - 1));
  EXPECT_FF_ERROR(load_safetensors(path), "beyond the end of the data section", "truncated");
}

TEST(Safetensors, DetectsCorruptHeaders) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto load_error = [&](const std::string& header, const std::string& data, std::vector<std::string> parts) {
    write_bytes(path, make_file(header, data));
    parts.insert(parts.begin(), "safetensors file '" + path + "'");
    return testing::throws_error_with([&] { load_safetensors(path); }, parts);
  };
  const std::string eight(8, '\0');
  auto f32 = [](const char* offsets) {
    return std::string(R"("a": {"dtype": "F32", "shape": [2], "data_offsets": )") + offsets + "}";
  };
  // A header length far beyond the file.
  std::string huge = make_file("{" + f32("[0, 8]") + "}", eight);
  for (int k = 0; k < 8; ++k) huge[static_cast<size_t>(k)] = static_cast<char>(0x7f);
  write_bytes(path, huge);
  EXPECT_FF_ERROR(load_safetensors(path), path, "header length", "larger than the rest of the file");

  EXPECT_TRUE(load_error("{" + f32("[0, 8]") + ";", eight, {"invalid JSON at byte"}));
  EXPECT_TRUE(load_error(R"({"a" {"dtype": "F32"}})", "", {"invalid JSON at byte 13", "expected ':'"}));
  EXPECT_TRUE(load_error("[1, 2]", "", {"does not start with '{'"}));
  EXPECT_TRUE(load_error("{" + f32("[0, 16]") + "}", eight, {"'a'", "span 16 bytes", "needs 8"}));
  EXPECT_TRUE(load_error("{" + f32("[8, 16]") + "}", eight, {"'a'", "beyond the end of the data section"}));
  EXPECT_TRUE(load_error("{" + f32("[0, 8]") + "}", eight + "xx", {"trailing"}));
  EXPECT_TRUE(load_error("{" + f32("[4, 0]") + "}", eight, {"end before they begin"}));
  EXPECT_TRUE(load_error("{" + f32("[0, -8]") + "}", eight, {"non-negative integers"}));
  EXPECT_TRUE(load_error("{" + f32("[0, 8.0]") + "}", eight, {"non-negative integers"}));
  EXPECT_TRUE(load_error("{" + f32("[0]") + "}", eight, {"[begin, end]"}));
  EXPECT_TRUE(load_error(R"({"a": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}})", eight,
                         {"'a'", "unknown dtype \"F33\""}));
  EXPECT_TRUE(load_error(R"({"a": {"dtype": "I16", "shape": [4], "data_offsets": [0, 8]}})", eight,
                         {"unsupported dtype \"I16\""}));
  EXPECT_TRUE(load_error(R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", eight, {"shape"}));
  EXPECT_TRUE(load_error(R"({"a": {"dtype": "F32", "shape": [2]}})", eight, {"lacks the 'data_offsets' field"}));
  EXPECT_TRUE(load_error(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": 1}})", eight,
                         {"unknown field 'x'"}));
  EXPECT_TRUE(load_error("{" + f32("[0, 8]") + ", " + f32("[0, 8]") + "}", eight, {"duplicate member name \"a\""}));
  EXPECT_TRUE(load_error(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, )"
                         R"("b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                         std::string(12, '\0'), {"'a' [0, 8) and 'b' [4, 12) overlap"}));
  EXPECT_TRUE(load_error(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, )"
                         R"("b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}})",
                         std::string(20, '\0'), {"bytes [8, 12) of the data section belong to no tensor"}));
  EXPECT_TRUE(load_error(R"({"__metadata__": {"epoch": 3}})", "", {"metadata entry 'epoch' must be a string"}));
  EXPECT_TRUE(load_error(R"({"a": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}})", le_bytes({1, 2}),
                         {"'a'", "byte value 2"}));
  EXPECT_TRUE(load_error(R"({"a": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}})",
                         eight, {"too large"}));
  EXPECT_FF_ERROR(load_safetensors(dir.file("missing.safetensors")), "missing.safetensors", "cannot open");
}

TEST(Safetensors, CorruptedBytesNeverCrash) {
  // Single-byte corruptions of the length field, across the header and in the data
  // either load or throw ff::Error naming the file: never a crash (also run under ASan).
  TempDir dir;
  const std::string bytes = saved_every_dtype_bytes(dir);
  const uint64_t header_len = header_length(bytes);
  const std::string path = dir.file("flipped.safetensors");
  int errors = 0;
  for (size_t pos = 0; pos < bytes.size(); pos += pos < 8 ? 1 : pos < 8 + header_len ? 3 : 29) {
    for (unsigned char x : {0x01, 0xff}) {
      std::string corrupt = bytes;
      corrupt[pos] = static_cast<char>(corrupt[pos] ^ x);
      write_bytes(path, corrupt);
      try {
        load_safetensors(path);
      } catch (const Error& e) {
        ++errors;
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_GT(errors, 100);
}

TEST(Safetensors, SaveRejectsInvalidInput) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  EXPECT_FF_ERROR(save_safetensors(path, {{"w", Tensor()}}), path, "'w' is undefined");
  EXPECT_FF_ERROR(save_safetensors(path, {{"__metadata__", zeros({1})}}), "reserved");
  EXPECT_FF_ERROR(save_safetensors(path, {{"bad\xff", zeros({1})}}), "UTF-8");
  EXPECT_TRUE(dir.entries().empty());  // nothing written, not even a temporary file
}

// ---- atomic writes ------------------------------------------------------------------------------------
TEST(SafetensorsAtomic, MissingDirectoryFailsCleanly) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/x.safetensors");
  EXPECT_FF_ERROR(save_safetensors(path, every_dtype()), path, "temporary file", "No such file or directory");
  EXPECT_TRUE(dir.entries().empty());
}

TEST(SafetensorsAtomic, FailedRenameKeepsTheTargetAndRemovesTheTemporaryFile) {
  TempDir dir;
  // The target is a non-empty directory: everything is written, then rename() fails.
  const std::string path = dir.file("ckpt");
  std::filesystem::create_directory(path);
  testing::write_bytes(path + "/inside", "keep");
  EXPECT_FF_ERROR(save_safetensors(path, every_dtype()), path, "renaming");
  EXPECT_EQ(testing::read_bytes(path + "/inside"), "keep");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt"});
}

// Simulates a full disk: writes beyond RLIMIT_FSIZE fail with EFBIG (SIGXFSZ ignored).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit lim = old_;
    lim.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &lim);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  sighandler_t old_handler_;
};

TEST(SafetensorsAtomic, WriteErrorMidFileKeepsThePreviousCheckpoint) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, every_dtype(), {{"epoch", "1"}});
  const std::string before = read_bytes(path);

  StateDict big = every_dtype();
  big["big"] = zeros({256, 1024}, DType::Float32);  // 1 MiB: beyond the limit below
  {
    FileSizeLimit limit(64 * 1024);
    EXPECT_FF_ERROR(save_safetensors(path, big), path, "writing the temporary file");
  }
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(load_safetensors(path).metadata.at("epoch"), "1");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});  // no temporary file left
  save_safetensors(path, big);  // and without the limit the save goes through
  EXPECT_EQ(load_safetensors(path).tensors.at("big").numel(), 256 * 1024);
}

TEST(SafetensorsAtomic, ReadOnlyDirectory) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: directory permissions are not enforced";
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, every_dtype());
  const std::string before = read_bytes(path);
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  EXPECT_FF_ERROR(save_safetensors(path, {{"w", zeros({3})}}), path, "Permission denied");
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all);
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
}

TEST(Safetensors, LoadIntoExistingTensors) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  save_safetensors(path, {{"w", tensor_from(std::vector<float>{1, 2, 3, 4}, {2, 2})},
                          {"b", tensor_from(std::vector<double>{5, 6}, {2})}});
  Tensor w = zeros({2, 2}, DType::Float16), b = zeros({2}, DType::Float32);
  load_safetensors_into(path, {{"w", w}, {"b", b}});
  EXPECT_EQ(to_vector<double>(w), (std::vector<double>{1, 2, 3, 4}));  // converted to float16
  EXPECT_EQ(to_vector<double>(b), (std::vector<double>{5, 6}));
  Tensor wrong = zeros({4});
  EXPECT_FF_ERROR(load_safetensors_into(path, {{"w", wrong}, {"b", b}}), "'w'", "[2, 2]", "float32[4]");
  EXPECT_FF_ERROR(load_safetensors_into(path, {{"w", w}}), "not expected: [b]");
  Tensor only_b = zeros({2});
  load_safetensors_into(path, {{"b", only_b}, {"c", zeros({1})}}, /*strict=*/false);
  EXPECT_EQ(to_vector<double>(only_b), (std::vector<double>{5, 6}));
}

// An independent reader: a few lines of pure Python (struct, json) check the file we write.
TEST(Safetensors, PythonReadsOurFile) {
  if (std::system("/usr/bin/python3 -c 'import json, struct' > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "no /usr/bin/python3: skipping the cross-check with an independent reader";
  }
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  save_safetensors(path,
                   {{"f32", tensor_from(std::vector<float>{1.5f, -2.0f}, {2})},
                    {"f16", tensor_from(std::vector<float>{0.5f, 3.0f, -1.0f}, {3}).to(DType::Float16)},
                    {"i64", tensor_from(std::vector<int64_t>{7, -9}, {1, 2})},
                    {"s", full({}, 4.0, DType::Float64)}},
                   {{"epoch", "3"}});
  const std::string script = dir.file("read.py");
  testing::write_bytes(script, R"(import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n].decode("utf-8"))
assert (8 + n) % 8 == 0, "data section not aligned"
data = raw[8 + n:]
fmt = {"F32": "f", "F16": "e", "I64": "q", "F64": "d"}
size = {"F32": 4, "F16": 2, "I64": 8, "F64": 8}
out = {}
for name, info in header.items():
    if name == "__metadata__":
        continue
    b, e = info["data_offsets"]
    count = (e - b) // size[info["dtype"]]
    out[name] = [info["dtype"], info["shape"], list(struct.unpack("<%d%s" % (count, fmt[info["dtype"]]), data[b:e]))]
expected = {"f32": ["F32", [2], [1.5, -2.0]], "f16": ["F16", [3], [0.5, 3.0, -1.0]],
            "i64": ["I64", [1, 2], [7, -9]], "s": ["F64", [], [4.0]]}
assert out == expected, out
assert header["__metadata__"] == {"epoch": "3"}, header["__metadata__"]
print("python reader ok")
)");
  EXPECT_EQ(std::system(("/usr/bin/python3 " + script + " " + path).c_str()), 0);
}

}  // namespace
}  // namespace ff
