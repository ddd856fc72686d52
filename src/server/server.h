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
#include <optional>
#include <string>

#include "api/http.h"
#include "core/error.h"
#include "core/log.h"
#include "core/metrics.h"

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

  // Heavy requests (is_heavy: those that run queries) wait in the admission queue for one of
  // `heavy_workers`; beyond `max_queued` waiting, or after waiting `queue_timeout`, they are
  // answered 503 with Retry-After at once. Other requests run on the worker pool.
  int heavy_workers = 4;
  size_t max_queued = 64;
  std::chrono::milliseconds queue_timeout{10000};
  // stop(): requests in flight may finish until this deadline; then their queries are
  // interrupted and they are answered 503. Open event streams (api::HttpResponse::events) are
  // not requests in flight once their header is out: stop() ends them at once.
  std::chrono::milliseconds shutdown_timeout{30000};
  // An open event stream gets a comment line (": keepalive") this often, so that proxies and
  // load balancers do not close it as idle and a client that went away is noticed (the write
  // fails).
  std::chrono::milliseconds event_heartbeat{15000};
  // Heavy requests are shed (503) while the process's resident memory (as `resident_bytes`
  // reports it) is above this many bytes, before the kernel's OOM killer acts; 0: off.
  uint64_t memory_guard_bytes = 0;
  std::function<std::optional<int64_t>()> resident_bytes;
  // Tracing: a server span per request (not for health, readiness and metrics) when set; with
  // trust_traceparent, a caller's W3C `traceparent` header becomes its parent.
  Tracer* tracer = nullptr;
  bool trust_traceparent = false;
  // HTTP metrics (requests, latency, connections, queue, shed) are recorded here when set.
  metrics::Registry* metrics = nullptr;
};

using Handler = std::function<api::HttpResponse(const api::HttpRequest&)>;
// Answers a request on the I/O thread, never behind queued work (health, readiness, metrics), or
// returns nullopt to pass it on. Must not block.
using InlineHandler = std::function<std::optional<api::HttpResponse>(const api::HttpRequest&)>;
// Whether a request runs queries (and so passes the admission queue).
using HeavyPredicate = std::function<bool(const api::HttpRequest&)>;

struct Handlers {
  Handler handle;
  InlineHandler inline_handle;  // optional
  HeavyPredicate is_heavy;      // optional: no request is heavy
};

class Server {
 public:
  // Binds and starts serving; fails (Unavailable) when the address cannot be bound.
  static Result<std::unique_ptr<Server>> start(const ServerOptions& options, Handler handler, Logger& log);
  static Result<std::unique_ptr<Server>> start(const ServerOptions& options, Handlers handlers, Logger& log);
  virtual ~Server() = default;
  virtual uint16_t port() const = 0;
  // Stops accepting; a request that arrives on an open connection is answered 503 (and the
  // connection closed); open event streams end at once; requests in flight finish and are
  // delivered, up to shutdown_timeout, then are interrupted and answered 503. Ends wait().
  virtual void stop() = 0;
  virtual void wait() = 0;
};

}  // namespace sightline::server
