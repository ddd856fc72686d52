// Answers too large to keep in memory (downloads of millions of rows) are written to a spool
// file while the engine produces them, then sent from there by the server in pieces.
//
//   auto spool = SpoolFile::create(dir);             // an anonymous file in `dir`
//   spool->append(bytes); ...                         // buffered writes
//   auto body = spool->finish();                      // the file, to send (size known)
//
// The file has no name (O_TMPFILE, or a name unlinked at once where the file system lacks it):
// nothing is left behind, even after a crash, and no other process can open it. Its disk space
// is returned when the last descriptor closes. Not thread-safe; a SpoolFile is moved between
// threads, never shared.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

namespace sightline {

// A finished spool file: a read-only view of its bytes for the server. Closes the file when the
// last owner lets go. Thread-safe to share (nothing in it changes).
class SpooledBody {
 public:
  SpooledBody(int fd, uint64_t size) : fd_(fd), size_(size) {}
  ~SpooledBody();
  SpooledBody(const SpooledBody&) = delete;
  SpooledBody& operator=(const SpooledBody&) = delete;
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }

 private:
  int fd_;
  uint64_t size_;
};

class SpoolFile {
 public:
  // Fails with ErrorKind::Unavailable (the message says why: no such folder, no permission) when
  // no file can be made in `dir`.
  static Result<SpoolFile> create(const std::filesystem::path& dir);
  ~SpoolFile();
  SpoolFile(SpoolFile&& other) noexcept;
  SpoolFile& operator=(SpoolFile&&) = delete;
  SpoolFile(const SpoolFile&) = delete;

  // Appends bytes (written out in large blocks). Fails with ErrorKind::Unavailable when the disk
  // is full or the file may grow no more (`max_bytes`).
  Result<void> append(std::string_view bytes);
  // Bytes appended so far.
  uint64_t size() const { return size_; }
  // Writes what is buffered and hands the file over; the SpoolFile is empty afterwards.
  Result<std::shared_ptr<const SpooledBody>> finish();

  // The most a spool file may hold; beyond it append() fails.
  void set_max_bytes(uint64_t max_bytes) { max_bytes_ = max_bytes; }

 private:
  explicit SpoolFile(int fd) : fd_(fd) {}
  Result<void> flush();

  int fd_ = -1;
  std::string buffer_;
  uint64_t size_ = 0;
  uint64_t max_bytes_ = UINT64_MAX;
};

}  // namespace sightline
