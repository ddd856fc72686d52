#include "auth/tokens.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "auth/crypto.h"
#include "core/log.h"

namespace sightline::auth {
namespace fs = std::filesystem;
using std::chrono::system_clock;

namespace {

int64_t to_seconds(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
system_clock::time_point from_seconds(int64_t s) {
  return system_clock::time_point(std::chrono::seconds(s));
}

nlohmann::json to_json(const TokenRecord& r) {
  return {{"id", r.id},
          {"name", r.name},
          {"subject", r.subject},
          {"roles", r.roles},
          {"sha256", r.hash},
          {"created", to_seconds(r.created)},
          {"expires", to_seconds(r.expires)},
          {"revoked", r.revoked}};
}

// An exclusive lock on `<tokens file>.lock` for one read-modify-write: `token create` and
// `token revoke` may run at the same time (two shells, a script), and neither may lose the
// other's change. Released when destroyed.
class FileLock {
 public:
  explicit FileLock(const fs::path& target) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    fs::path lock = target;
    lock += ".lock";
    fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace

Result<std::chrono::seconds> parse_lifetime(const std::string& text) {
  static const std::regex re(R"(([0-9]{1,6})\s*(d|h|m))");
  std::smatch m;
  if (!std::regex_match(text, m, re))
    return fail(ErrorKind::InvalidInput, "expiry '" + text.substr(0, 32) + "' is not like 90d, 12h or 30m");
  int64_t n = std::stoll(m[1]);
  int64_t unit = m[2] == "d" ? 86400 : m[2] == "h" ? 3600 : 60;
  if (n <= 0 || n * unit > 3 * 365 * 86400LL) return fail(ErrorKind::InvalidInput, "expiry must be between 1 minute and 3 years");
  return std::chrono::seconds(n * unit);
}

TokenFile::TokenFile(fs::path path, std::function<system_clock::time_point()> clock) : path_(std::move(path)), clock_(std::move(clock)) {}

Result<std::vector<TokenRecord>> TokenFile::read() const {
  std::vector<TokenRecord> out;
  std::error_code ec;
  if (!fs::exists(path_, ec)) return out;
  std::ifstream in(path_);
  if (!in) return fail(ErrorKind::Unavailable, "cannot read the tokens file " + path_.filename().string());
  std::stringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("tokens") || !j["tokens"].is_array()) {
    return fail(ErrorKind::Internal, "the tokens file " + path_.filename().string() + " is not valid", "expected {\"tokens\": [...]}");
  }
  for (const auto& t : j["tokens"]) {
    if (!t.is_object()) continue;
    TokenRecord r;
    auto text = [&](const char* key) { return t.contains(key) && t[key].is_string() ? t[key].get<std::string>() : std::string(); };
    auto number = [&](const char* key) { return t.contains(key) && t[key].is_number_integer() ? t[key].get<int64_t>() : int64_t{0}; };
    r.id = text("id");
    r.name = text("name");
    r.subject = text("subject");
    if (t.contains("roles") && t["roles"].is_array())
      for (const auto& role : t["roles"])
        if (role.is_string()) r.roles.push_back(role.get<std::string>());
    r.hash = text("sha256");
    r.created = from_seconds(number("created"));
    r.expires = from_seconds(number("expires"));  // missing or malformed: expired
    r.revoked = !t.contains("revoked") || !t["revoked"].is_boolean() || t["revoked"].get<bool>();
    if (r.id.empty() || r.hash.size() != 64) continue;
    out.push_back(std::move(r));
  }
  return out;
}

Result<void> TokenFile::write(const std::vector<TokenRecord>& records) const {
  nlohmann::json j = {{"tokens", nlohmann::json::array()}};
  for (const auto& r : records) j["tokens"].push_back(to_json(r));
  std::error_code ec;
  fs::create_directories(path_.parent_path(), ec);
  // A private temporary file next to the target (0600 from the start), synced, then renamed
  // over it: readers see the old file or the new one, never half of one.
  std::string pattern = (path_.parent_path() / (path_.filename().string() + ".XXXXXX")).string();
  int fd = ::mkstemp(pattern.data());
  if (fd < 0) return fail(ErrorKind::Unavailable, "cannot write next to " + path_.string());
  fs::path tmp = pattern;
  std::string text = j.dump(2) + "\n";
  bool ok = ::fchmod(fd, 0600) == 0;
  for (size_t done = 0; ok && done < text.size();) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0)
      ok = false;
    else
      done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    fs::remove(tmp, ec);
    return fail(ErrorKind::Unavailable, "cannot write " + tmp.string());
  }
  fs::rename(tmp, path_, ec);
  if (ec) return fail(ErrorKind::Unavailable, "cannot replace " + path_.string() + ": " + ec.message());
  return {};
}

Result<CreatedToken> TokenFile::create(const std::string& name, const std::string& subject, const std::vector<std::string>& roles,
                                       std::chrono::seconds lifetime) {
  if (subject.empty()) return fail(ErrorKind::InvalidInput, "a token needs a subject (the identity it acts as)");
  std::lock_guard lock(mutex_);
  FileLock file_lock(path_);
  if (!file_lock.held()) return fail(ErrorKind::Unavailable, "cannot lock " + path_.string() + ".lock");
  auto records = read();
  if (!records) return fail(records.error());
  CreatedToken made;
  made.token = "slt_" + random_token(32);
  made.record.id = sha256_hex(random_token(16)).substr(0, 12);
  made.record.name = name;
  made.record.subject = subject;
  made.record.roles = roles;
  made.record.hash = sha256_hex(made.token);
  made.record.created = clock_();
  made.record.expires = made.record.created + lifetime;
  records->push_back(made.record);
  if (auto w = write(*records); !w) return fail(w.error());
  loaded_ = false;
  return made;
}

Result<std::vector<TokenRecord>> TokenFile::list() const {
  return read();
}

Result<TokenRecord> TokenFile::revoke(const std::string& id) {
  std::lock_guard lock(mutex_);
  FileLock file_lock(path_);
  if (!file_lock.held()) return fail(ErrorKind::Unavailable, "cannot lock " + path_.string() + ".lock");
  auto records = read();
  if (!records) return fail(records.error());
  for (auto& r : *records) {
    if (r.id != id) continue;
    r.revoked = true;
    if (auto w = write(*records); !w) return fail(w.error());
    loaded_ = false;
    return r;
  }
  return fail(ErrorKind::NotFound, "no token with id '" + id.substr(0, 32) + "'", "see `sightline token list`");
}

std::optional<TokenRecord> TokenFile::verify(const std::string& presented) {
  if (!presented.starts_with("slt_") || presented.size() > 128) return std::nullopt;
  std::string hash = sha256_hex(presented);
  std::lock_guard lock(mutex_);
  std::error_code ec;
  auto time = fs::last_write_time(path_, ec);
  if (ec) return std::nullopt;  // no tokens file: no tokens
  auto size = fs::file_size(path_, ec);
  if (!loaded_ || time != seen_time_ || size != seen_size_) {
    auto records = read();
    if (!records) return std::nullopt;
    cached_ = std::move(*records);
    seen_time_ = time;
    seen_size_ = size;
    loaded_ = true;
  }
  auto now = clock_();
  for (const auto& r : cached_) {
    if (!constant_time_equal(r.hash, hash)) continue;
    if (r.revoked || now >= r.expires) return std::nullopt;
    return r;
  }
  return std::nullopt;
}

}  // namespace sightline::auth
