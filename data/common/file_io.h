// File access for the dataset readers and writers.
//
// RandomAccessFile reads with pread, so one open file serves many loader threads and a
// 100 GB train.rec is never loaded whole. BufferedAtomicWriter batches small writes into
// ff::AtomicFileWriter, so a half-written dataset never appears under its final name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/io/atomic_file.h"

namespace ff::data {

class RandomAccessFile {
 public:
  // Throws ff::Error naming the path when the file cannot be opened or is not a regular file.
  explicit RandomAccessFile(std::string path);
  ~RandomAccessFile();
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

  // Reads up to n bytes at offset; returns how many were read (fewer only at end of file).
  // Thread-safe. Throws on an I/O error.
  size_t read_at(uint64_t offset, size_t n, void* dst) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// The whole file in memory (for the small .bin validation sets and image-folder files).
std::vector<uint8_t> read_whole_file(const std::string& path);

class BufferedAtomicWriter {
 public:
  explicit BufferedAtomicWriter(const std::string& path, size_t buffer_bytes = size_t{4} << 20);
  void write(const void* data, size_t n);
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }
  uint64_t bytes_written() const { return written_; }
  // Flushes, fsyncs and renames onto the final path. Without commit() nothing appears.
  void commit();
  const std::string& path() const { return path_; }

 private:
  void flush();

  std::string path_;
  std::unique_ptr<AtomicFileWriter> file_;
  std::string buffer_;
  size_t buffer_limit_;
  uint64_t written_ = 0;
};

// Creates `dir` and its parents if needed; throws ff::Error naming it on failure.
void ensure_directory(const std::string& dir);

}  // namespace ff::data
