#include "data/common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "framework/common/check.h"

namespace ff::data {

namespace {
std::string errno_text(int err) { return fmt::format("{} (errno {})", std::strerror(err), err); }
}  // namespace

RandomAccessFile::RandomAccessFile(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    const int err = errno;
    FF_THROW("cannot open '{}': {}", path_, errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    FF_THROW("cannot read '{}': not a regular file", path_);
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

RandomAccessFile::~RandomAccessFile() {
  if (fd_ >= 0) ::close(fd_);
}

size_t RandomAccessFile::read_at(uint64_t offset, size_t n, void* dst) const {
  char* out = static_cast<char*>(dst);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      FF_THROW("cannot read '{}' at byte offset {}: {}", path_, offset + done, errno_text(err));
    }
    if (got == 0) break;  // end of file
    done += static_cast<size_t>(got);
  }
  return done;
}

std::vector<uint8_t> read_whole_file(const std::string& path) {
  RandomAccessFile file(path);
  std::vector<uint8_t> bytes(file.size());
  const size_t got = file.read_at(0, bytes.size(), bytes.data());
  FF_CHECK(got == bytes.size(), "cannot read '{}': expected {} bytes, got {} (file changed while reading?)", path,
           bytes.size(), got);
  return bytes;
}

BufferedAtomicWriter::BufferedAtomicWriter(const std::string& path, size_t buffer_bytes)
    : path_(path), file_(std::make_unique<AtomicFileWriter>(path)), buffer_limit_(buffer_bytes) {
  buffer_.reserve(buffer_limit_);
}

void BufferedAtomicWriter::write(const void* data, size_t n) {
  FF_ASSERT(file_ != nullptr, "write to a committed writer for '{}'", path_);
  written_ += n;
  if (buffer_.size() + n > buffer_limit_) {
    flush();
    if (n >= buffer_limit_) {  // a large record goes straight through
      file_->write(data, n);
      return;
    }
  }
  buffer_.append(static_cast<const char*>(data), n);
}

void BufferedAtomicWriter::flush() {
  if (!buffer_.empty()) file_->write(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void BufferedAtomicWriter::commit() {
  FF_ASSERT(file_ != nullptr, "second commit of '{}'", path_);
  flush();
  file_->commit();
  file_.reset();
}

void ensure_directory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  FF_CHECK(!ec, "cannot create directory '{}': {}", dir, ec.message());
  FF_CHECK(std::filesystem::is_directory(dir), "'{}' exists and is not a directory", dir);
}

}  // namespace ff::data
