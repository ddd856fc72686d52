// Outgoing HTTP for object stores: any method, any headers, the answer's headers, and a body
// either kept (listings, error documents) or handed on in chunks as it arrives (objects, which
// can be gigabytes).
//
//   auto http = make_curl_transport();
//   auto r = http->send({.url = "https://s3.example.com/bucket?list-type=2", .headers = {...}});
//   if (!r) ...                 // Unavailable: no HTTP answer (connection, TLS, stalled transfer)
//   if (r->status != 200) ...   // any status is a successful exchange
//
// An interface, so tests can answer without a network. Implementations must be safe to call
// from several threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace sightline::storage {

struct HttpCall {
  std::string method = "GET";
  std::string url;  // already percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpReply {
  long status = 0;
  std::string body;                            // kept for answers not given to a sink; at most 1 MiB
  std::map<std::string, std::string> headers;  // names lowercased
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Receives the body of a 2xx answer chunk by chunk; returns false to abort the transfer.
using BodySink = std::function<bool(long status, std::string_view bytes)>;

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Sends `call`. With `sink`, the body of a 2xx answer goes to it and not into the reply; other
  // answers' bodies (error documents) are kept. An error means no complete HTTP answer (it names
  // the host, never the URL's query, which can hold a signature or a SAS token).
  virtual Result<HttpReply> send(const HttpCall& call, const BodySink& sink = nullptr) = 0;
};

// libcurl: one easy handle per call, TLS verified, no redirects, only http and https. Connecting
// may take `connect_timeout`; a transfer that moves nothing for `stall_timeout` is abandoned
// (there is no limit on a whole object's time: objects are large).
// `ca_file`: verify certificates with the authorities in this PEM file instead of the system's.
std::unique_ptr<HttpTransport> make_curl_transport(std::chrono::milliseconds connect_timeout = std::chrono::seconds(10),
                                                   std::chrono::milliseconds stall_timeout = std::chrono::seconds(60),
                                                   std::string ca_file = {});

// "host" or "host:port" of an http(s) URL ("" when it is not one).
std::string authority_of(const std::string& url);

}  // namespace sightline::storage
