// Outgoing HTTP for talking to the identity provider (discovery, keys, token exchange).
//
//   auto http = make_curl_http_client();
//   auto r = http->get("https://login.example.com/.well-known/openid-configuration");
//   if (!r) return fail(r.error());          // Unavailable: could not talk to the host
//   if (r->status != 200) ...                 // any HTTP status is a successful exchange
//
// HttpClient is an interface so tests can serve canned answers without a network. Implementations
// must be safe to call from several threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace sightline::auth {

struct OutgoingResponse {
  long status = 0;           // HTTP status code
  std::string body;          // at most the client's body limit
  std::string content_type;  // the Content-Type header, empty when absent
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // GET `url`. An error means no HTTP answer was had (connection, TLS, timeout, size limit);
  // a 4xx/5xx answer is a successful result with that status. Redirects are not followed.
  virtual Result<OutgoingResponse> get(const std::string& url) = 0;

  // POST `fields` as application/x-www-form-urlencoded to `url`, with HTTP basic authentication
  // when `basic_auth` holds (user, password) — each part form-urlencoded before base64 as
  // RFC 6749 section 2.3.1 requires for client credentials. Same error contract as get().
  virtual Result<OutgoingResponse> post_form(const std::string& url, const std::vector<std::pair<std::string, std::string>>& fields,
                                             const std::optional<std::pair<std::string, std::string>>& basic_auth) = 0;

  // POST `body` with the given Content-Type (an OTLP/HTTP export: application/x-protobuf or
  // application/json). Same error contract as get(). The default refuses: clients that never
  // send such bodies need not implement it.
  virtual Result<OutgoingResponse> post_body(const std::string& /*url*/, const std::string& /*body*/, const std::string& /*content_type*/) {
    return fail(ErrorKind::Unavailable, "this HTTP client cannot POST a body");
  }
};

// A libcurl client: one easy handle per call (no shared state), TLS certificates and host names
// always verified, no redirects, only http and https, `timeout` for connecting and for the whole
// exchange, and answers over `max_body` bytes refused. Errors are ErrorKind::Unavailable and name
// the host, never credentials, form fields or response bodies.
std::unique_ptr<HttpClient> make_curl_http_client(std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                                  std::size_t max_body = 1024 * 1024);

// Percent-encodes everything but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~). Suitable
// both for URL query values and for application/x-www-form-urlencoded fields.
std::string percent_encode(std::string_view text);

}  // namespace sightline::auth
