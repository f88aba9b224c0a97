// Crash-safe file replacement: write "<path>.tmp.<pid>", fsync, then rename over `path`.
//
//   AtomicFileWriter out(path);   // creates the temporary file
//   out.write(bytes, n); ...
//   out.commit();                 // fsync + close + rename (+ fsync of the directory)
//
// If commit() is not reached (an exception, an early return) or fails, the temporary file is
// removed and `path` is untouched: a previous file there survives a failed save. Errors throw
// ff::Error naming the path and the system error.
#pragma once

#include <cstddef>
#include <string>

namespace ff {

class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t nbytes);
  void commit();

  const std::string& temp_path() const { return temp_path_; }

 private:
  void discard() noexcept;

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace ff
