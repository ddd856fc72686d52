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

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

namespace sightline {

// The most bytes all spool files of a process may hold at once (they share the temporary folder
// with DuckDB's spill files: downloads must not fill that disk). Thread-safe.
class SpoolBudget {
 public:
  explicit SpoolBudget(uint64_t max_bytes) : max_(max_bytes) {}
  // Takes `n` bytes of the budget; false (and nothing taken) when that would pass the maximum.
  bool reserve(uint64_t n);
  void release(uint64_t n) { used_.fetch_sub(n); }
  uint64_t used() const { return used_.load(); }
  uint64_t max() const { return max_; }

 private:
  const uint64_t max_;
  std::atomic<uint64_t> used_{0};
};

// A finished spool file: a read-only view of its bytes for the server. Closes the file when the
// last owner lets go. Thread-safe to share (nothing in it changes).
class SpooledBody {
 public:
  // `budget`: the bytes it holds are given back to it when the file closes.
  SpooledBody(int fd, uint64_t size, std::shared_ptr<SpoolBudget> budget = nullptr) : fd_(fd), size_(size), budget_(std::move(budget)) {}
  ~SpooledBody();
  SpooledBody(const SpooledBody&) = delete;
  SpooledBody& operator=(const SpooledBody&) = delete;
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }

 private:
  int fd_;
  uint64_t size_;
  std::shared_ptr<SpoolBudget> budget_;
};

class SpoolFile {
 public:
  // Fails with ErrorKind::Unavailable (the message says why: no such folder, no permission) when
  // no file can be made in `dir`.
  // With `budget`, every byte appended is taken from it (and given back when the file closes);
  // append() fails with ErrorKind::Unavailable when the budget is spent.
  static Result<SpoolFile> create(const std::filesystem::path& dir, std::shared_ptr<SpoolBudget> budget = nullptr);
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
  SpoolFile(int fd, std::shared_ptr<SpoolBudget> budget) : fd_(fd), budget_(std::move(budget)) {}
  Result<void> flush();

  int fd_ = -1;
  std::string buffer_;
  uint64_t size_ = 0;
  uint64_t max_bytes_ = UINT64_MAX;
  std::shared_ptr<SpoolBudget> budget_;
};

}  // namespace sightline
