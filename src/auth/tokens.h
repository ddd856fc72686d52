// API tokens for scripts and notebooks (`Authorization: Bearer slt_...`).
//
//   TokenFile file(project_dir / ".sightline/tokens.json", clock);
//   auto made = file.create("etl", "etl-bot", {"north"}, 90 days);   // made->token shown once
//   auto who = file.verify(presented);                               // per request
//   file.revoke(made->record.id);                                    // effective at once
//
// The file keeps only SHA-256 hashes of tokens. verify() re-reads the file when it changed, so
// a revocation by `sightline token revoke` takes effect on the next request. Thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace sightline::auth {

struct TokenRecord {
  std::string id;       // short public id, for list/revoke
  std::string name;     // what it is for
  std::string subject;  // the identity it acts as (issuer "token")
  std::vector<std::string> roles;
  std::string hash;  // hex SHA-256 of the token
  std::chrono::system_clock::time_point created, expires;
  bool revoked = false;
};

struct CreatedToken {
  TokenRecord record;
  std::string token;  // the secret: shown once, never stored
};

class TokenFile {
 public:
  TokenFile(std::filesystem::path path, std::function<std::chrono::system_clock::time_point()> clock);

  Result<CreatedToken> create(const std::string& name, const std::string& subject, const std::vector<std::string>& roles,
                              std::chrono::seconds lifetime);
  Result<std::vector<TokenRecord>> list() const;
  Result<TokenRecord> revoke(const std::string& id);
  // The live (unrevoked, unexpired) record for a presented token.
  std::optional<TokenRecord> verify(const std::string& presented);

 private:
  Result<std::vector<TokenRecord>> read() const;
  Result<void> write(const std::vector<TokenRecord>& records) const;
  std::filesystem::path path_;
  std::function<std::chrono::system_clock::time_point()> clock_;
  std::mutex mutex_;
  std::filesystem::file_time_type seen_time_{};
  uintmax_t seen_size_ = 0;
  bool loaded_ = false;
  std::vector<TokenRecord> cached_;
};

// "90d", "12h", "30m" -> seconds.
Result<std::chrono::seconds> parse_lifetime(const std::string& text);

}  // namespace sightline::auth
