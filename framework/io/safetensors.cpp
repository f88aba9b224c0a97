#include "framework/io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "framework/autograd/autograd.h"
#include "framework/io/atomic_file.h"
#include "framework/io/json.h"
#include "ops/tensor_ops/copy.h"

namespace ff {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors I/O writes host memory as-is and assumes a little-endian host");

namespace {

// The reference implementation refuses larger headers; so do we (a corrupt length must not
// make us allocate gigabytes).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DTypeName {
  const char* name;
  DType dtype;
};
constexpr DTypeName kDTypeNames[] = {{"F32", DType::Float32}, {"F16", DType::Float16}, {"BF16", DType::BFloat16},
                                     {"F64", DType::Float64}, {"I32", DType::Int32},   {"I64", DType::Int64},
                                     {"U8", DType::UInt8},    {"BOOL", DType::Bool}};
// Valid in the format, but with no FaceFlow dtype.
constexpr const char* kUnsupportedDTypes[] = {"I8",      "I16",     "U16",     "U32",  "U64",     "F8_E4M3",
                                              "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};

bool dtype_from_safetensors(const std::string& s, DType* out) {
  for (const auto& d : kDTypeNames) {
    if (s == d.name) {
      *out = d.dtype;
      return true;
    }
  }
  return false;
}

std::string errno_text(int err) { return fmt::format("{} (errno {})", std::strerror(err), err); }

// The host, contiguous form of a tensor, as it is written.
Tensor host_contiguous(const Tensor& t) {
  autograd::NoGradGuard no_grad;
  Tensor h = t.detach();
  if (!h.device().is_cpu()) h = h.to(Device());
  if (!h.is_contiguous()) h = h.contiguous();
  return h;
}

// ---- reading -----------------------------------------------------------------------------------------
struct TensorEntry {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // relative to the data section
};

struct ParsedHeader {
  std::vector<TensorEntry> entries;  // sorted by data offset
  SafetensorsMetadata metadata;
  uint64_t data_start = 0;
};

class ReadOnlyFile {
 public:
  explicit ReadOnlyFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      const int err = errno;
      FF_THROW("safetensors file '{}': cannot open: {}", path, errno_text(err));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int err = errno;
      ::close(fd_);
      FF_THROW("safetensors file '{}': cannot stat: {}", path, errno_text(err));
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd_);
      FF_THROW("safetensors file '{}': is a directory", path);
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~ReadOnlyFile() { ::close(fd_); }
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  uint64_t size() const { return size_; }

  void read_at(void* dst, uint64_t nbytes, uint64_t offset, const char* what) const {
    char* p = static_cast<char*>(dst);
    while (nbytes > 0) {
      const ssize_t n = ::pread(fd_, p, std::min<uint64_t>(nbytes, uint64_t{1} << 30), static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        FF_THROW("safetensors file '{}': reading {} failed: {}", path_, what, errno_text(err));
      }
      FF_CHECK(n > 0, "safetensors file '{}': unexpected end of file while reading {} (the file shrank?)", path_, what);
      p += n;
      offset += static_cast<uint64_t>(n);
      nbytes -= static_cast<uint64_t>(n);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// A non-negative JSON integer, or an error naming the tensor and field.
uint64_t non_negative_int(const json::Value& v, const std::string& path, const std::string& name, const char* field) {
  FF_CHECK(v.is_integer() && v.integer >= 0,
           "safetensors file '{}': tensor '{}': {} must hold non-negative integers, found a {} at byte {}", path, name,
           field, v.kind_name(), v.offset);
  return static_cast<uint64_t>(v.integer);
}

TensorEntry parse_tensor_entry(const std::string& path, const std::string& name, const json::Value& v) {
  FF_CHECK(v.is_object(), "safetensors file '{}': the header entry of tensor '{}' is a {}, expected an object", path,
           name, v.kind_name());
  TensorEntry e;
  e.name = name;
  const json::Value *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
  for (const auto& [field, value] : v.object) {
    if (field == "dtype") {
      dtype = &value;
    } else if (field == "shape") {
      shape = &value;
    } else if (field == "data_offsets") {
      offsets = &value;
    } else {
      FF_THROW("safetensors file '{}': tensor '{}' has an unknown field '{}' (expected dtype, shape, data_offsets)",
               path, name, field);
    }
  }
  FF_CHECK(dtype && shape && offsets, "safetensors file '{}': tensor '{}' lacks the '{}' field", path, name,
           !dtype ? "dtype" : !shape ? "shape" : "data_offsets");

  FF_CHECK(dtype->is_string(), "safetensors file '{}': tensor '{}': dtype must be a string, found a {}", path, name,
           dtype->kind_name());
  if (!dtype_from_safetensors(dtype->string, &e.dtype)) {
    const bool known = std::any_of(std::begin(kUnsupportedDTypes), std::end(kUnsupportedDTypes),
                                   [&](const char* d) { return dtype->string == d; });
    FF_THROW("safetensors file '{}': tensor '{}' has {} dtype {} (FaceFlow reads F32, F16, BF16, F64, I32, I64, U8, "
             "BOOL)",
             path, name, known ? "the unsupported" : "an unknown", json::quote(dtype->string));
  }

  FF_CHECK(shape->is_array(), "safetensors file '{}': tensor '{}': shape must be an array, found a {}", path, name,
           shape->kind_name());
  uint64_t numel = 1;
  bool overflow = false;
  for (const json::Value& d : shape->array) {
    const uint64_t n = non_negative_int(d, path, name, "shape");
    e.shape.push_back(static_cast<int64_t>(n));
    if (n != 0 && numel > std::numeric_limits<uint64_t>::max() / n) overflow = true;
    numel *= n;
  }
  const uint64_t element = dtype_size(e.dtype);
  overflow = overflow || (element != 0 && numel > std::numeric_limits<uint64_t>::max() / element);
  FF_CHECK(!overflow, "safetensors file '{}': tensor '{}': shape {} is too large", path, name, shape_str(e.shape));

  FF_CHECK(offsets->is_array() && offsets->array.size() == 2,
           "safetensors file '{}': tensor '{}': data_offsets must be an array [begin, end]", path, name);
  e.begin = non_negative_int(offsets->array[0], path, name, "data_offsets");
  e.end = non_negative_int(offsets->array[1], path, name, "data_offsets");
  FF_CHECK(e.begin <= e.end, "safetensors file '{}': tensor '{}': data_offsets [{}, {}] end before they begin", path,
           name, e.begin, e.end);
  FF_CHECK(e.end - e.begin == numel * element,
           "safetensors file '{}': tensor '{}': data_offsets [{}, {}] span {} bytes, but {}{} needs {} bytes", path,
           name, e.begin, e.end, e.end - e.begin, dtype->string, shape_str(e.shape), numel * element);
  return e;
}

ParsedHeader read_header(const std::string& path, const ReadOnlyFile& file) {
  const uint64_t size = file.size();
  FF_CHECK(size >= 8,
           "safetensors file '{}': the file is {} bytes long, shorter than the 8-byte header length (empty or truncated)",
           path, size);
  unsigned char len_bytes[8];
  file.read_at(len_bytes, 8, 0, "the header length");
  uint64_t header_len = 0;
  for (int k = 7; k >= 0; --k) header_len = (header_len << 8) | len_bytes[k];
  FF_CHECK(header_len <= size - 8,
           "safetensors file '{}': the header length {} is larger than the rest of the file ({} bytes): the file is "
           "truncated or not a safetensors file",
           path, header_len, size - 8);
  FF_CHECK(header_len <= kMaxHeaderBytes, "safetensors file '{}': the header length {} exceeds the {}-byte limit",
           path, header_len, kMaxHeaderBytes);
  std::string header(static_cast<size_t>(header_len), '\0');
  file.read_at(header.data(), header_len, 8, "the header");
  FF_CHECK(!header.empty() && header[0] == '{',
           "safetensors file '{}': the header does not start with '{{' (not a safetensors file?)", path);
  const json::Value root = json::parse(header, fmt::format("safetensors file '{}' header", path), 8);
  FF_CHECK(root.is_object(), "safetensors file '{}': the header is a JSON {}, expected an object", path,
           root.kind_name());

  ParsedHeader out;
  out.data_start = 8 + header_len;
  const uint64_t data_size = size - out.data_start;
  for (const auto& [name, value] : root.object) {
    if (name == "__metadata__") {
      FF_CHECK(value.is_object(), "safetensors file '{}': __metadata__ must be an object of strings, found a {}", path,
               value.kind_name());
      for (const auto& [key, v] : value.object) {
        FF_CHECK(v.is_string(), "safetensors file '{}': metadata entry '{}' must be a string, found a {}", path, key,
                 v.kind_name());
        out.metadata[key] = v.string;
      }
      continue;
    }
    TensorEntry e = parse_tensor_entry(path, name, value);
    FF_CHECK(e.end <= data_size,
             "safetensors file '{}': tensor '{}': data_offsets [{}, {}] lie beyond the end of the data section ({} "
             "bytes): the file is truncated or corrupt",
             path, name, e.begin, e.end, data_size);
    out.entries.push_back(std::move(e));
  }

  // The tensors must tile the data section exactly: no overlaps, no gaps, nothing after.
  std::sort(out.entries.begin(), out.entries.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& e : out.entries) {
    FF_CHECK(e.begin >= covered, "safetensors file '{}': tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", path,
             previous ? previous->name : "", previous ? previous->begin : 0, previous ? previous->end : 0, e.name,
             e.begin, e.end);
    FF_CHECK(e.begin == covered, "safetensors file '{}': bytes [{}, {}) of the data section belong to no tensor", path,
             covered, e.begin);
    covered = e.end;
    if (e.end > e.begin) previous = &e;
  }
  FF_CHECK(covered == data_size,
           "safetensors file '{}': the data section is {} bytes, but the tensors cover only the first {} (trailing "
           "bytes)",
           path, data_size, covered);
  return out;
}

Tensor read_tensor(const std::string& path, const ReadOnlyFile& file, const ParsedHeader& h, const TensorEntry& e) {
  Tensor t = Tensor::empty(e.shape, e.dtype, Device());
  if (e.end > e.begin) {
    const std::string what = fmt::format("tensor '{}'", e.name);
    file.read_at(t.raw_data(), e.end - e.begin, h.data_start + e.begin, what.c_str());
  }
  if (e.dtype == DType::Bool) {  // any other byte value would be undefined behaviour as a C++ bool
    const auto* bytes = static_cast<const unsigned char*>(t.raw_data());
    for (int64_t i = 0; i < t.numel(); ++i) {
      FF_CHECK(bytes[i] <= 1, "safetensors file '{}': tensor '{}' (BOOL) holds byte value {} at element {}", path,
               e.name, static_cast<unsigned>(bytes[i]), i);
    }
  }
  return t;
}

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  for (const auto& d : kDTypeNames) {
    if (d.dtype == dtype) return d.name;
  }
  FF_THROW("dtype {} has no safetensors name", dtype_name(dtype));
}

// ---- saving -------------------------------------------------------------------------------------------
void save_safetensors(const std::string& path, const StateDict& tensors, const SafetensorsMetadata& metadata) {
  struct Entry {
    const std::string* name;
    const Tensor* tensor;
    uint64_t begin = 0, end = 0;
  };
  std::vector<Entry> entries;
  for (const auto& [name, t] : tensors) {
    FF_CHECK(name != "__metadata__", "save_safetensors('{}'): '__metadata__' is reserved and cannot name a tensor",
             path);
    FF_CHECK(json::is_valid_utf8(name), "save_safetensors('{}'): tensor name {} is not valid UTF-8", path,
             json::quote(name));
    FF_CHECK(t.defined(), "save_safetensors('{}'): tensor '{}' is undefined", path, name);
    safetensors_dtype_name(t.dtype());  // every FaceFlow dtype has one; keeps the check next to the use
    entries.push_back({&name, &t});
  }
  for (const auto& [key, value] : metadata) {
    FF_CHECK(json::is_valid_utf8(key) && json::is_valid_utf8(value),
             "save_safetensors('{}'): metadata entry {} is not valid UTF-8", path, json::quote(key));
  }
  // Largest elements first: with the data section 8-byte aligned, every tensor then starts at
  // a multiple of its element size (memory-mapping readers can use it in place).
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return dtype_size(a.tensor->dtype()) > dtype_size(b.tensor->dtype());
  });
  uint64_t offset = 0;
  for (Entry& e : entries) {
    e.begin = offset;
    offset += static_cast<uint64_t>(e.tensor->numel()) * dtype_size(e.tensor->dtype());
    e.end = offset;
  }

  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      header += (first ? "" : ",") + json::quote(key) + ":" + json::quote(value);
      first = false;
    }
    header += "}";
  }
  for (const Entry& e : entries) {
    if (header.size() > 1) header += ",";
    header += fmt::format("{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", json::quote(*e.name),
                          safetensors_dtype_name(e.tensor->dtype()), fmt::join(e.tensor->sizes(), ","), e.begin,
                          e.end);
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // 8 + header.size() becomes a multiple of 8

  unsigned char len_bytes[8];
  uint64_t len = header.size();
  for (int k = 0; k < 8; ++k, len >>= 8) len_bytes[k] = static_cast<unsigned char>(len & 0xffu);

  AtomicFileWriter out(path);
  out.write(len_bytes, 8);
  out.write(header.data(), header.size());
  for (const Entry& e : entries) {
    if (e.end == e.begin) continue;
    const Tensor host = host_contiguous(*e.tensor);
    out.write(host.raw_data(), e.end - e.begin);
  }
  out.commit();
}

// ---- loading ------------------------------------------------------------------------------------------
SafetensorsContents load_safetensors(const std::string& path) {
  const ReadOnlyFile file(path);
  const ParsedHeader header = read_header(path, file);
  SafetensorsContents out;
  out.metadata = header.metadata;
  for (const TensorEntry& e : header.entries) out.tensors[e.name] = read_tensor(path, file, header, e);
  return out;
}

SafetensorsMetadata load_safetensors_into(const std::string& path, const StateDict& dst, bool strict) {
  const ReadOnlyFile file(path);
  const ParsedHeader header = read_header(path, file);
  std::map<std::string, const TensorEntry*> by_name;
  for (const TensorEntry& e : header.entries) by_name[e.name] = &e;
  if (strict) {
    std::vector<std::string> missing, unexpected;
    for (const auto& kv : dst) {
      if (!by_name.count(kv.first)) missing.push_back(kv.first);
    }
    for (const auto& kv : by_name) {
      if (!dst.count(kv.first)) unexpected.push_back(kv.first);
    }
    FF_CHECK(missing.empty() && unexpected.empty(),
             "safetensors file '{}': names do not match: missing from the file: [{}]; not expected: [{}]", path,
             fmt::join(missing, ", "), fmt::join(unexpected, ", "));
  }
  // Check every shape before writing anything.
  for (const auto& [name, t] : dst) {
    const auto it = by_name.find(name);
    if (it == by_name.end()) continue;
    FF_CHECK(t.defined(), "load_safetensors_into('{}'): destination '{}' is an undefined tensor", path, name);
    FF_CHECK(it->second->shape == t.sizes(), "safetensors file '{}': tensor '{}' has shape {}, but the destination is {}",
             path, name, shape_str(it->second->shape), t.describe());
  }
  autograd::NoGradGuard no_grad;
  for (const auto& [name, t] : dst) {
    const auto it = by_name.find(name);
    if (it == by_name.end()) continue;
    copy_into(t, read_tensor(path, file, header, *it->second));
    t.storage()->bump_version();
  }
  return header.metadata;
}

}  // namespace ff
