// The HTTP server: Boost.Beast over Asio. This header stays free of Beast so that only
// server.cpp pays for it.
//
//   auto server = Server::start({.host = "127.0.0.1", .port = 0}, handler, log);
//   std::cout << (*server)->port();
//   (*server)->wait();  // until stop() (e.g. from a signal handler thread)
//
// Network I/O runs on a few I/O threads; handlers (which may block on DuckDB) run on a
// separate worker pool, so slow queries never stall accepting or reading other requests.
// Every read has a timeout and a body limit. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/http.h"
#include "core/error.h"
#include "core/log.h"

namespace sightline::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8501;          // 0: any free port
  int io_threads = 1;
  int worker_threads = 4;        // concurrent handlers
  size_t max_body_bytes = 1 << 20;
  std::chrono::seconds read_timeout{30};
  size_t max_connections = 10'000;
  // Native TLS (PEM files); both empty: plain HTTP (e.g. behind a TLS-terminating proxy).
  std::string tls_cert_file;
  std::string tls_key_file;
};

using Handler = std::function<api::HttpResponse(const api::HttpRequest&)>;

class Server {
 public:
  // Binds and starts serving; fails (Unavailable) when the address cannot be bound.
  static Result<std::unique_ptr<Server>> start(const ServerOptions& options, Handler handler, Logger& log);
  virtual ~Server() = default;
  virtual uint16_t port() const = 0;
  // Stops accepting, lets in-flight requests finish, and ends wait().
  virtual void stop() = 0;
  virtual void wait() = 0;
};

}  // namespace sightline::server
