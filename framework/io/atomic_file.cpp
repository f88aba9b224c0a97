#include "framework/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "framework/common/check.h"

namespace ff {

namespace {
std::string errno_text(int err) { return fmt::format("{} (errno {})", std::strerror(err), err); }

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}
}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path)
    : path_(std::move(path)), temp_path_(fmt::format("{}.tmp.{}", path_, static_cast<long>(::getpid()))) {
  FF_CHECK(!path_.empty(), "cannot write a file with an empty path");
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    const int err = errno;
    FF_THROW("cannot write '{}': creating the temporary file '{}' failed: {}", path_, temp_path_, errno_text(err));
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) discard();
}

void AtomicFileWriter::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t nbytes) {
  FF_ASSERT(fd_ >= 0 && !committed_, "write to a closed AtomicFileWriter for '{}'", path_);
  const char* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    // Linux transfers at most ~2 GiB per call; larger buffers go in pieces.
    const ssize_t n = ::write(fd_, p, std::min<size_t>(nbytes, size_t{1} << 30));
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      discard();
      FF_THROW("cannot write '{}': writing the temporary file '{}' failed: {}", path_, temp_path_, errno_text(err));
    }
    p += n;
    nbytes -= static_cast<size_t>(n);
  }
}

void AtomicFileWriter::commit() {
  FF_ASSERT(fd_ >= 0 && !committed_, "commit of a closed AtomicFileWriter for '{}'", path_);
  auto fail = [&](const char* what, int err) {
    discard();
    FF_THROW("cannot write '{}': {} of the temporary file '{}' failed: {}", path_, what, temp_path_, errno_text(err));
  };
  if (::fsync(fd_) != 0) fail("fsync", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close", errno);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail("renaming", errno);
  committed_ = true;
  // Make the rename itself durable. Best effort: some filesystems refuse fsync on directories.
  const int dir = ::open(parent_dir(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
}

}  // namespace ff
