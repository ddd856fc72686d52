// One error vocabulary for all of Sightline.
//
//   Result<int> parse_port(std::string_view s) {
//     if (s.empty()) return fail(ErrorKind::InvalidInput, "port is empty");
//     ...
//   }
//
// An Error has a kind (which decides the HTTP status in exactly one place, the API layer),
// a message a user can act on, and an optional hint. Messages never carry secrets.
#pragma once

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace sightline {

enum class ErrorKind {
  InvalidInput,  // the caller sent something wrong: 400
  Unauthenticated,  // no valid credentials (not signed in, bad or expired token): 401
  NotFound,      // no such dashboard/widget/filter: 404
  Forbidden,     // authenticated but not allowed: 403
  TooLarge,      // request body or result beyond a limit: 413
  TooManyRequests,  // a rate or concurrency limit: 429
  Timeout,       // a query ran past its time limit: 504
  Unavailable,   // overloaded or not ready: 503
  Internal,      // a bug or an environment failure: 500
};

struct Error {
  ErrorKind kind = ErrorKind::Internal;
  std::string message;
  std::string hint;  // optional: what to do about it
};

template <class T>
using Result = tl::expected<T, Error>;

// fail(...) converts to any Result<T>: `return fail(ErrorKind::NotFound, "no such widget");`
[[nodiscard]] inline tl::unexpected<Error> fail(ErrorKind kind, std::string message, std::string hint = {}) {
  return tl::unexpected<Error>(Error{kind, std::move(message), std::move(hint)});
}
[[nodiscard]] inline tl::unexpected<Error> fail(Error error) { return tl::unexpected<Error>(std::move(error)); }

// Short stable name of a kind, used in problem+json "type" and in logs.
const char* error_kind_name(ErrorKind kind);

}  // namespace sightline
