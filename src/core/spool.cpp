#include "core/spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace sightline {
namespace {

constexpr size_t kBlockBytes = 1 << 20;

Error no_room(int err) {
  if (err == ENOSPC || err == EDQUOT || err == EFBIG)
    return Error{ErrorKind::Unavailable, "the server has no room on its disk for this download", "retry later, or ask for fewer rows",
                 std::strerror(err)};
  return Error{ErrorKind::Unavailable, "the server could not write this download to its disk", "retry later", std::strerror(err)};
}

// Where O_TMPFILE is not supported (some file systems): a random name, unlinked at once.
int open_unlinked(const std::filesystem::path& dir) {
  std::random_device rd;
  for (int attempt = 0; attempt < 16; ++attempt) {
    char name[48];
    std::snprintf(name, sizeof name, "sightline-spool-%08x%08x", rd(), rd());
    std::string path = (dir / name).string();
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::unlink(path.c_str());
      return fd;
    }
    if (errno != EEXIST) return -1;
  }
  return -1;
}

}  // namespace

bool SpoolBudget::reserve(uint64_t n) {
  uint64_t used = used_.load();
  do {
    if (used + n > max_) return false;
  } while (!used_.compare_exchange_weak(used, used + n));
  return true;
}

SpooledBody::~SpooledBody() {
  if (fd_ >= 0) ::close(fd_);
  if (budget_) budget_->release(size_);
}

Result<SpoolFile> SpoolFile::create(const std::filesystem::path& dir, std::shared_ptr<SpoolBudget> budget) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) fd = open_unlinked(dir);
  if (fd < 0) {
    // The folder is the operator's business (the log has it); the caller hears only that the
    // download could not be prepared.
    return fail(Error{ErrorKind::Unavailable, "the server could not prepare this download", "retry later",
                      "cannot make a spool file in " + dir.string() + ": " + std::strerror(errno)});
  }
  return SpoolFile(fd, std::move(budget));
}

SpoolFile::~SpoolFile() {
  if (fd_ < 0) return;
  ::close(fd_);
  if (budget_) budget_->release(size_);
}

SpoolFile::SpoolFile(SpoolFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      size_(other.size_),
      max_bytes_(other.max_bytes_),
      budget_(std::move(other.budget_)) {}

Result<void> SpoolFile::append(std::string_view bytes) {
  if (fd_ < 0) return fail(ErrorKind::Internal, "append to a finished spool file");
  if (size_ + bytes.size() > max_bytes_) return fail(no_room(EFBIG));
  if (budget_ && !budget_->reserve(bytes.size()))
    return fail(Error{ErrorKind::Unavailable, "the server is preparing too many downloads at once", "retry shortly",
                      "the spool files hold " + std::to_string(budget_->used()) + " of " + std::to_string(budget_->max()) +
                          " bytes (--spool-mb)"});
  buffer_.append(bytes);
  size_ += bytes.size();
  if (buffer_.size() >= kBlockBytes) return flush();
  return {};
}

Result<void> SpoolFile::flush() {
  size_t at = 0;
  while (at < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + at, buffer_.size() - at);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(no_room(errno));
    }
    at += static_cast<size_t>(n);
  }
  buffer_.clear();
  return {};
}

Result<std::shared_ptr<const SpooledBody>> SpoolFile::finish() {
  if (fd_ < 0) return fail(ErrorKind::Internal, "spool file finished twice");
  if (auto ok = flush(); !ok) return fail(ok.error());
  if (::lseek(fd_, 0, SEEK_SET) != 0) return fail(no_room(errno));
  return std::make_shared<const SpooledBody>(std::exchange(fd_, -1), size_, std::move(budget_));
}

}  // namespace sightline
