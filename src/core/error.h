// One error vocabulary for all of Sightline.
//
//   Result<int> parse_port(std::string_view s) {
//     if (s.empty()) return fail(ErrorKind::InvalidInput, "port is empty");
//     ...
//   }
//
// An Error has a kind (which decides the HTTP status in exactly one place, the API layer),
// a message a user can act on, an optional hint, and an optional detail.
//
// What may travel where:
//   - message and hint are written by Sightline and may reach any caller. They never hold a
//     secret, a file path, an engine's own words or a data value from the project's files (they
//     may quote what the caller itself sent, for the caller's kinds: invalid input and the like).
//   - detail holds what only the project's owner may read: the engine's own message (which can
//     quote rows, file paths and reader settings). It goes to the server log (with secrets
//     redacted) and to `sightline check`, never into a response.
#pragma once

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace sightline {

enum class ErrorKind {
  InvalidInput,     // the caller sent something wrong: 400
  Unauthenticated,  // no valid credentials (not signed in, bad or expired token): 401
  NotFound,         // no such dashboard/widget/filter: 404
  Forbidden,        // authenticated but not allowed: 403
  Conflict,         // the request does not fit what the target is (rows sent to a source that reads files): 409
  TooLarge,         // request body or result beyond a limit: 413
  UnsupportedMediaType,  // a body of a type the endpoint does not read: 415
  TooManyRequests,  // a rate or concurrency limit: 429
  Cancelled,        // the client went away before the answer (its queries were stopped): 499, never seen by it
  Timeout,          // a query ran past its time limit: 504
  Unavailable,      // overloaded, out of memory or not ready: 503
  SourceFailed,     // the project's data could not be read (a value that does not convert, a missing
                    // or corrupt file, a schema that changed under a view): 502. Not the caller's fault.
  Internal,         // a bug or an environment failure: 500
};

struct Error {
  ErrorKind kind = ErrorKind::Internal;
  std::string message;
  std::string hint;    // optional: what to do about it
  std::string detail;  // optional: for the log and the project's author only (see above)

  // The fullest explanation, for the project's author (check, load diagnostics, the log):
  // the detail when there is one, else the message.
  const std::string& for_author() const { return detail.empty() ? message : detail; }
};

template <class T>
using Result = tl::expected<T, Error>;

// fail(...) converts to any Result<T>: `return fail(ErrorKind::NotFound, "no such widget");`
[[nodiscard]] inline tl::unexpected<Error> fail(ErrorKind kind, std::string message, std::string hint = {}) {
  return tl::unexpected<Error>(Error{kind, std::move(message), std::move(hint)});
}
[[nodiscard]] inline tl::unexpected<Error> fail(Error error) {
  return tl::unexpected<Error>(std::move(error));
}

// An Error whose public message is `message` and whose detail is `detail` (see above).
[[nodiscard]] inline tl::unexpected<Error> fail_with_detail(ErrorKind kind, std::string message, std::string hint, std::string detail) {
  return tl::unexpected<Error>(Error{kind, std::move(message), std::move(hint), std::move(detail)});
}

// Short stable name of a kind, used in problem+json "type" and in logs.
const char* error_kind_name(ErrorKind kind);

}  // namespace sightline
