#include "server/server.h"

#include "server/admission.h"

#include <array>
#include <cstring>
#include <atomic>
#include <map>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace sightline::server {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A problem document the server writes itself (the API layer writes all others).
std::string problem_json(int status, const std::string& title, const char* type, const std::string& detail, const std::string& request_id) {
  nlohmann::json j = {{"type", std::string("urn:sightline:problem:") + type},
                      {"title", title},
                      {"status", status},
                      {"detail", detail},
                      {"request_id", request_id}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// 503 with Retry-After: shed by the admission queue, or refused while shutting down.
api::HttpResponse unavailable(const std::string& detail, const std::string& request_id, const char* retry_after = "1") {
  api::HttpResponse r;
  r.status = 503;
  r.content_type = "application/problem+json";
  r.body = problem_json(503, "Service Unavailable", "unavailable", detail, request_id);
  r.headers.emplace_back("Retry-After", retry_after);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// Methods as metric labels: the known ones, everything else "other" (bounded cardinality).
std::string method_label(const std::string& m) {
  static const std::set<std::string> known = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  return known.count(m) ? m : "other";
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; });
}

class ServerImpl;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// One connection: (TLS handshake,) read a request, hand it to the worker pool, write the
// answer, repeat. `Stream` is a plain TCP stream or a TLS stream over one.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Stream stream, ServerImpl& server);
  void run();

 private:
  void do_read();
  void on_read(beast::error_code ec, size_t bytes);
  void respond(api::HttpResponse response, bool keep_alive);
  void on_write(bool keep_alive, beast::error_code ec, size_t bytes);
  // A body in a spool file: after the header, piece by piece, each piece with its own deadline
  // (a slow client downloading gigabytes is fine; a stalled one is dropped after read_timeout).
  void send_file_piece(bool keep_alive, size_t written);
  void send_error(http::status status, const std::string& detail);
  // An event stream (api::HttpResponse::events) once its header is out: what the handler's
  // stream pushes is queued and written on this session's strand, one write at a time, each with
  // the read_timeout deadline (a stalled client is dropped); a comment line every
  // event_heartbeat. It ends when the client goes away (a failed write; on plain TCP also the
  // hang-up watch's read ending), or when the server stops; the request line is logged then.
  void start_stream(size_t header_bytes);
  void stream_push(std::string chunk);
  void stream_write_next();
  void arm_heartbeat();
  void end_stream(const char* why, beast::error_code ec = {});
  // The request line (and metrics, and the server span) of the answer just written.
  void log_request(size_t bytes, beast::error_code ec, const char* stream_end);
  void drain_then_close();
  // While a handler runs (plain TCP only): a read that ends means the client hung up, and the
  // request's cancellation stops its queries. Bytes that arrive (a pipelined request) are kept
  // for the next parse.
  void watch_hangup();
  void on_watch(beast::error_code ec, size_t bytes);
  void close();
  // Ends the connection after the last answer: TLS close_notify first when on TLS.
  void finish(bool count_down);
  auto& socket() { return beast::get_lowest_layer(stream_).socket(); }
  auto& lowest() { return beast::get_lowest_layer(stream_); }

  bool drain_after_write_ = false;  // an error answered before the body was read
  std::array<char, 16384> drain_buffer_{};
  size_t drained_ = 0;

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
  // A body sent from a spool file (see api::HttpResponse::file_body): what was sent of it so far.
  std::shared_ptr<const SpooledBody> file_body_;
  std::optional<http::response_serializer<http::string_body>> header_serializer_;
  std::vector<char> file_piece_;
  uint64_t file_sent_ = 0;
  ServerImpl& server_;
  // For the request log.
  std::chrono::steady_clock::time_point started_;
  std::string method_, path_, request_id_;
  int64_t rows_ = -1;
  std::string route_;  // the route template, for metrics
  std::optional<TraceContext> trace_, trace_parent_;  // this request's server span, when traced
  int64_t trace_start_ns_ = 0;
  std::string user_;  // the caller's subject, for the request log
  bool counted_ = false;  // this request is counted in the server's in-flight total
  // Hang-up watch (see watch_hangup).
  std::shared_ptr<Cancellation> cancel_;
  std::array<char, 4096> watch_buffer_{};
  bool watching_ = false;         // a watch read is outstanding
  bool handling_ = false;         // a handler runs for the current request
  bool read_after_watch_ = false;  // the next request is read once the watch read has ended
  // Event stream (see start_stream).
  std::shared_ptr<api::EventStream> events_;
  api::EventStream::Subscription subscription_;
  std::string stream_pending_;  // pushed, not written yet
  std::string stream_chunk_;    // being written
  bool streaming_ = false, stream_writing_ = false, stream_ended_ = false;
  uint64_t stream_bytes_ = 0;     // header and chunks written
  uint64_t stream_id_ = 0;        // in the server's list of open streams
  size_t stream_discarded_ = 0;   // bytes the client sent on a stream (ignored)
  std::optional<asio::steady_timer> heartbeat_;
};

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& o, Handlers h, Logger& log)
      : options_(o),
        handlers_(std::move(h)),
        log_(log),
        acceptor_(io_),
        workers_(static_cast<size_t>(std::max(1, o.worker_threads))),
        heavy_(AdmissionOptions{.workers = o.heavy_workers, .max_queued = o.max_queued, .timeout = o.queue_timeout}),
        rng_(std::random_device{}()) {
    register_metrics();
  }

  ~ServerImpl() override {
    stop();
    join();
  }

  Result<void> listen() {
    if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
      if (auto t = load_tls(); !t) return t;
    }
    beast::error_code ec;
    auto address = asio::ip::make_address(options_.host, ec);
    if (ec) return fail(ErrorKind::InvalidInput, "'" + options_.host + "' is not an IP address", "use e.g. 127.0.0.1 or 0.0.0.0");
    tcp::endpoint ep(address, options_.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return fail(ErrorKind::Unavailable, "cannot listen on " + options_.host + ":" + std::to_string(options_.port) + ": " + ec.message(),
                  ec == asio::error::address_in_use ? "another program uses that port; pick another with --port" : "");
    }
    port_ = acceptor_.local_endpoint().port();
    do_accept();
    for (int i = 0; i < std::max(1, options_.io_threads); ++i) threads_.emplace_back([this] { io_.run(); });
    return {};
  }

  uint16_t port() const override { return port_; }
  bool tls() const { return tls_.has_value(); }

  // TLS 1.2 or later with the certificate chain and key from the given PEM files.
  Result<void> load_tls() {
    if (options_.tls_cert_file.empty() || options_.tls_key_file.empty())
      return fail(ErrorKind::InvalidInput, "TLS needs both a certificate and a key", "give --tls-cert and --tls-key");
    tls_.emplace(asio::ssl::context::tls_server);
    beast::error_code ec;
    tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                          asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression |
                          asio::ssl::context::single_dh_use,
                      ec);
    if (!ec) tls_->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (ec) {
      tls_.reset();
      return fail(ErrorKind::InvalidInput, "cannot use the TLS certificate " + options_.tls_cert_file + ": " + ec.message(),
                  "a PEM file with the certificate (and its chain)");
    }
    tls_->use_private_key_file(options_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      tls_.reset();
      // The message names the file, never its content.
      return fail(ErrorKind::InvalidInput, "cannot use the TLS key " + options_.tls_key_file + ": " + ec.message(),
                  "a PEM private key matching the certificate");
    }
    return {};
  }

  void stop() override {
    bool expected = false;
    if (!stopping_.compare_exchange_strong(expected, true)) return;
    asio::post(io_, [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    // Open event streams end now: a client keeps one open for as long as it likes, so they are
    // not waited for (streams whose header is written later end as they start).
    end_streams();
    // Let in-flight requests (running or queued) finish and their answers reach the clients, up
    // to the deadline; then interrupt their queries (they are answered 503) and give the answers
    // a moment to be written.
    auto wait_until_idle = [&](std::chrono::steady_clock::time_point deadline) {
      while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    };
    wait_until_idle(std::chrono::steady_clock::now() + options_.shutdown_timeout);
    if (in_flight_.load() > 0) {
      log_.warn("shutdown_interrupting", {{"requests", in_flight_.load()}});
      interrupted_ = true;
      cancel_all();
      wait_until_idle(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    }
    // The streams' ends (their log lines, their sockets closed) happen on the I/O threads.
    const auto streams_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (open_streams() > 0 && std::chrono::steady_clock::now() < streams_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    heavy_.stop();
    workers_.join();
    io_.stop();
    std::lock_guard lock(stopped_mutex_);
    stopped_ = true;
    stopped_cv_.notify_all();
  }

  void wait() override {
    std::unique_lock lock(stopped_mutex_);
    stopped_cv_.wait(lock, [&] { return stopped_; });
  }

  void join() {
    for (auto& t : threads_)
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    threads_.clear();
  }

  std::string new_request_id() {
    std::lock_guard lock(rng_mutex_);
    static const char* hex = "0123456789abcdef";
    std::string id(16, '0');
    uint64_t v = rng_();
    for (int i = 0; i < 16; ++i) id[i] = hex[(v >> (i * 4)) & 0xF];
    return id;
  }

  const ServerOptions& options() const { return options_; }
  const Handlers& handlers() const { return handlers_; }
  AdmissionQueue& heavy() { return heavy_; }
  bool stopping() const { return stopping_.load(); }
  bool interrupted() const { return interrupted_.load(); }

  // Requests in flight, so that stop() can interrupt them at its deadline.
  void track(const std::shared_ptr<Cancellation>& cancel) {
    std::lock_guard lock(active_mutex_);
    if (active_.size() >= 1024) std::erase_if(active_, [](const auto& w) { return w.expired(); });
    active_.push_back(cancel);
  }
  void cancel_all() {
    std::lock_guard lock(active_mutex_);
    for (auto& w : active_)
      if (auto c = w.lock()) c->cancel();
  }

  // Open event streams: `end` asks one to end (from any thread). A stream added after stop()
  // began sees stopping() true once added (the lock orders the two), and ends itself.
  uint64_t add_stream(std::function<void()> end) {
    std::lock_guard lock(streams_mutex_);
    const uint64_t id = next_stream_++;
    streams_.emplace(id, std::move(end));
    return id;
  }
  void remove_stream(uint64_t id) {
    std::lock_guard lock(streams_mutex_);
    streams_.erase(id);
  }
  size_t open_streams() {
    std::lock_guard lock(streams_mutex_);
    return streams_.size();
  }
  void end_streams() {
    std::vector<std::function<void()>> ends;
    {
      std::lock_guard lock(streams_mutex_);
      for (const auto& [id, end] : streams_) ends.push_back(end);
    }
    for (const auto& end : ends) end();
  }

  // Counts a request as answered with `status`: when its answer starts being written, so a
  // client that has read the answer finds it counted (counting after the write completed raced
  // with the client's next request on another connection).
  void count_answer(const std::string& route, const std::string& method, int status) {
    if (!requests_) return;
    requests_->with({route.empty() ? "other" : route, method_label(method), std::to_string(status)}).inc();
  }
  // How long a request took, written to the last byte (or ended).
  void observe_duration(const std::string& route, const std::string& method, double seconds) {
    if (!durations_) return;
    durations_->with({route.empty() ? "other" : route, method_label(method)}).observe(seconds);
  }
  // Whether the process uses more memory than the guard allows (read per heavy request: one
  // small read of /proc).
  bool above_memory_guard() const {
    if (options_.memory_guard_bytes == 0 || !options_.resident_bytes) return false;
    auto rss = options_.resident_bytes();
    return rss && static_cast<uint64_t>(*rss) > options_.memory_guard_bytes;
  }
  void count_shed(ShedReason why) {
    if (shed_) shed_->with({shed_reason_name(why)}).inc();
  }
  Logger& log() { return log_; }
  asio::thread_pool& workers() { return workers_; }
  std::atomic<size_t>& connections() { return connections_; }
  std::atomic<int>& in_flight() { return in_flight_; }

 private:
  void do_accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping_) return;
        log_.warn("accept_failed", {{"error", ec.message()}});
      } else if (connections_.load() >= options_.max_connections) {
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        if (tls_)
          std::make_shared<Session<TlsStream>>(TlsStream(std::move(socket), *tls_), *this)->run();
        else
          std::make_shared<Session<PlainStream>>(PlainStream(std::move(socket)), *this)->run();
      }
      if (!stopping_) do_accept();
    });
  }

  void register_metrics() {
    metrics::Registry* m = options_.metrics;
    if (!m) return;
    requests_ = &m->counter("sightline_http_requests_total", "HTTP requests answered, by route template, method and status code.",
                            {"route", "method", "code"});
    durations_ = &m->histogram("sightline_http_request_duration_seconds",
                               "Time from reading a request to writing its answer, by route template and method.", {"route", "method"});
    shed_ = &m->counter("sightline_requests_shed_total", "Requests answered 503 without running: queue full, queued too long, or shutting down.",
                        {"reason"});
    for (auto reason : {ShedReason::QueueFull, ShedReason::QueueTimeout, ShedReason::ShuttingDown, ShedReason::LowMemory})
      shed_->with({shed_reason_name(reason)});
    m->gauge_function("sightline_http_open_connections", "Open client connections.", {},
                      [this] { return std::vector<metrics::Sample>{{{}, static_cast<double>(connections_.load())}}; });
    m->gauge_function("sightline_http_event_streams", "Open event streams (live updates of open dashboards).", {},
                      [this] { return std::vector<metrics::Sample>{{{}, static_cast<double>(open_streams())}}; });
    m->gauge_function("sightline_http_requests_in_flight", "Requests read whose answer is not written yet (running or queued).", {},
                      [this] { return std::vector<metrics::Sample>{{{}, static_cast<double>(in_flight_.load())}}; });
    m->gauge_function("sightline_admission_queue_length", "Heavy requests (queries) waiting for a worker.", {},
                      [this] { return std::vector<metrics::Sample>{{{}, static_cast<double>(heavy_.queued())}}; });
    m->gauge_function("sightline_admission_running", "Heavy requests (queries) running.", {},
                      [this] { return std::vector<metrics::Sample>{{{}, static_cast<double>(heavy_.running())}}; });
  }

  ServerOptions options_;
  Handlers handlers_;
  Logger& log_;
  asio::io_context io_;
  // Keeps the I/O threads running while no socket operation is pending (e.g. after the acceptor
  // closed at shutdown, while handlers still have answers to write).
  asio::executor_work_guard<asio::io_context::executor_type> keep_running_ = asio::make_work_guard(io_);
  tcp::acceptor acceptor_;
  std::optional<asio::ssl::context> tls_;
  asio::thread_pool workers_;
  AdmissionQueue heavy_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> interrupted_{false};  // stop() passed its deadline and cancelled requests
  std::mutex active_mutex_;
  std::vector<std::weak_ptr<Cancellation>> active_;
  metrics::Family<metrics::Counter>* requests_ = nullptr;
  metrics::Family<metrics::Histogram>* durations_ = nullptr;
  metrics::Family<metrics::Counter>* shed_ = nullptr;
  std::atomic<size_t> connections_{0};
  std::atomic<int> in_flight_{0};  // requests handed to workers whose answer is not written yet
  std::mutex streams_mutex_;
  std::map<uint64_t, std::function<void()>> streams_;  // open event streams: how to end each
  uint64_t next_stream_ = 1;
  std::mutex stopped_mutex_;
  std::condition_variable stopped_cv_;
  bool stopped_ = false;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;
};

template <class Stream>
Session<Stream>::Session(Stream stream, ServerImpl& server) : stream_(std::move(stream)), server_(server) {
  ++server_.connections();
}

template <class Stream>
void Session<Stream>::run() {
  if constexpr (kIsTls<Stream>) {
    lowest().expires_after(std::chrono::seconds(10));
    stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
      if (ec) {
        // Not TLS, a bad certificate check on the client, or a scanner: nothing to answer.
        beast::error_code ignored;
        self->socket().close(ignored);
        --self->server_.connections();
        return;
      }
      self->do_read();
    });
  } else {
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, this->shared_from_this()));
  }
}

template <class Stream>
void Session<Stream>::finish(bool count_down) {
  if constexpr (kIsTls<Stream>) {
    lowest().expires_after(std::chrono::seconds(5));
    stream_.async_shutdown([self = this->shared_from_this(), count_down](beast::error_code) {
      beast::error_code ignored;
      self->socket().close(ignored);
      if (count_down) --self->server_.connections();
    });
  } else {
    beast::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    if (count_down) --server_.connections();
  }
}

template <class Stream>
void Session<Stream>::do_read() {
  parser_.emplace();
  parser_->body_limit(server_.options().max_body_bytes);
  parser_->header_limit(16 * 1024);
  lowest().expires_after(server_.options().read_timeout);
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
}

template <class Stream>
void Session<Stream>::on_read(beast::error_code ec, size_t) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset || ec == asio::error::eof ||
      ec == asio::ssl::error::stream_truncated) {
    return finish(true);
  }
  started_ = std::chrono::steady_clock::now();
  if (ec == http::error::body_limit) {
    method_ = "?";
    path_ = "?";
    request_id_ = server_.new_request_id();
    return send_error(http::status::payload_too_large,
                      "the request body is larger than " + std::to_string(server_.options().max_body_bytes) + " bytes");
  }
  if (ec) {
    method_ = "?";
    path_ = "?";
    request_id_ = server_.new_request_id();
    return send_error(ec == http::error::header_limit ? http::status::request_header_fields_too_large : http::status::bad_request,
                      "malformed HTTP request: " + ec.message());
  }
  auto msg = parser_->release();
  api::HttpRequest req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  for (const auto& field : msg) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    req.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  req.body = std::move(msg.body());
  req.tls = kIsTls<Stream>;
  {
    beast::error_code peer_ec;
    auto peer = socket().remote_endpoint(peer_ec);
    if (!peer_ec) {
      auto address = peer.address();
      // An IPv4 client on a dual-stack socket: report the plain IPv4 address.
      if (address.is_v6() && address.to_v6().is_v4_mapped()) address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
      req.peer = address.to_string();
    }
  }
  std::string incoming = req.header("x-request-id");
  req.request_id = valid_request_id(incoming) ? incoming : server_.new_request_id();
  method_ = req.method;
  path_ = req.target.substr(0, req.target.find('?')).substr(0, 512);
  request_id_ = req.request_id;
  bool keep_alive = msg.keep_alive();
  if (server_.stopping()) {
    ++server_.in_flight();
    counted_ = true;
    return respond(unavailable("the server is shutting down", request_id_), false);
  }
  // Health, readiness and metrics: answered here, never behind queued work.
  if (const auto& answer_inline = server_.handlers().inline_handle) {
    if (auto r = answer_inline(req)) return respond(std::move(*r), keep_alive);
  }
  ++server_.in_flight();
  counted_ = true;
  trace_.reset();
  if (Tracer* tracer = server_.options().tracer) {
    trace_parent_.reset();
    if (server_.options().trust_traceparent) trace_parent_ = parse_traceparent(req.header("traceparent"));
    trace_ = tracer->start_trace(trace_parent_);
    trace_start_ns_ = tracer->now_unix_ns();
    req.trace = trace_;
  }
  cancel_ = std::make_shared<Cancellation>();
  req.cancel = cancel_;
  server_.track(cancel_);
  if constexpr (!kIsTls<Stream>) {
    handling_ = true;
    watch_hangup();
  }
  const bool heavy = server_.handlers().is_heavy && server_.handlers().is_heavy(req);
  auto self = this->shared_from_this();
  // Handlers may block on the engine: run them on a worker, then write on our strand.
  auto run = [self, req = std::move(req), keep_alive]() mutable {
    if (req.cancel && req.cancel->cancelled() && !self->server_.interrupted()) {
      // The client hung up while this waited: nobody reads an answer; end the request quietly.
      api::HttpResponse gone;
      gone.status = 499;
      gone.content_type = "";
      asio::dispatch(self->stream_.get_executor(), [self, gone = std::move(gone)]() mutable { self->respond(std::move(gone), false); });
      return;
    }
    api::HttpResponse response;
    try {
      response = self->server_.handlers().handle(req);
    } catch (const std::exception& e) {
      self->server_.log().error("handler_exception", {{"request_id", req.request_id}, {"message", e.what()}});
      response.status = 500;
      response.content_type = "application/problem+json";
      response.body = R"({"type":"urn:sightline:problem:internal","title":"Internal Server Error","status":500})";
    }
    asio::dispatch(self->stream_.get_executor(),
                   [self, response = std::move(response), keep_alive]() mutable { self->respond(std::move(response), keep_alive); });
  };
  if (!heavy) {
    asio::post(server_.workers(), std::move(run));
    return;
  }
  std::string id = request_id_;
  auto shed = [self, id, keep_alive](ShedReason why) {
    self->server_.count_shed(why);
    const char* detail = why == ShedReason::ShuttingDown ? "the server is shutting down"
                         : why == ShedReason::QueueFull  ? "the server is busy: too many queries are waiting; retry shortly"
                         : why == ShedReason::LowMemory  ? "the server is low on memory: queries are refused until it has freed some; retry shortly"
                                                         : "the server is busy: this query waited too long for its turn; retry shortly";
    asio::dispatch(self->stream_.get_executor(),
                   [self, r = unavailable(detail, id), keep_alive]() mutable { self->respond(std::move(r), keep_alive); });
  };
  if (server_.above_memory_guard()) return shed(ShedReason::LowMemory);
  if (!server_.heavy().submit(std::move(run), shed)) shed(ShedReason::QueueFull);
}

template <class Stream>
void Session<Stream>::send_error(http::status status, const std::string& detail) {
  api::HttpResponse r;
  r.status = static_cast<int>(status);
  r.content_type = "application/problem+json";
  const char* type =
      status == http::status::payload_too_large || status == http::status::request_header_fields_too_large ? "too-large" : "invalid-input";
  nlohmann::json j = {{"type", std::string("urn:sightline:problem:") + type},
                      {"title", std::string(http::obsolete_reason(status))},
                      {"status", r.status},
                      {"detail", detail},
                      {"request_id", request_id_}};
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  drain_after_write_ = true;
  respond(std::move(r), false);
}

// After answering a request whose body we refused, read and discard what the client is still
// sending (bounded in bytes and time) so that closing does not reset the connection before the
// client has read our answer.
template <class Stream>
void Session<Stream>::drain_then_close() {
  lowest().expires_after(std::chrono::seconds(5));
  stream_.async_read_some(asio::buffer(drain_buffer_), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
    self->drained_ += n;
    if (ec || self->drained_ > (64u << 20)) return self->close();
    self->drain_then_close();
  });
}

template <class Stream>
void Session<Stream>::watch_hangup() {
  // No deadline while the handler runs: the query timeout bounds it, and an expiring timer
  // would close the socket the answer is written to.
  lowest().expires_never();
  watching_ = true;
  stream_.async_read_some(asio::buffer(watch_buffer_), beast::bind_front_handler(&Session::on_watch, this->shared_from_this()));
}

template <class Stream>
void Session<Stream>::on_watch(beast::error_code ec, size_t bytes) {
  watching_ = false;
  if (streaming_) {
    // An open event stream: the client has nothing more to say; a read that ends means it left.
    if (stream_ended_) return;
    // The write's deadline covers this read too: when a stalled client's write times out, the
    // stream cancels this read, and its handler may run before the write's. Nothing else cancels
    // it while the stream is open (end_stream, which closes the socket, has run by then).
    const bool timed_out = ec == beast::error::timeout || ec == asio::error::operation_aborted;
    if (ec) return end_stream(timed_out ? "write_timeout" : "client_closed", ec);
    stream_discarded_ += bytes;
    if (stream_discarded_ > 64 * 1024) return end_stream("client_sent_data");
    return watch_hangup();
  }
  if (!ec) {
    // The client sent more (pipelining): keep it for the next request, and watch on.
    auto room = buffer_.prepare(bytes);
    std::memcpy(room.data(), watch_buffer_.data(), bytes);
    buffer_.commit(bytes);
    if (handling_ && buffer_.size() < 64 * 1024) return watch_hangup();
  } else if (ec != asio::error::operation_aborted && cancel_) {
    // End of stream, reset, or any other failure: nobody will read the answer.
    cancel_->cancel();
  }
  if (read_after_watch_) {
    read_after_watch_ = false;
    do_read();
  }
}

template <class Stream>
void Session<Stream>::close() {
  beast::error_code ignored;
  socket().close(ignored);
  --server_.connections();
}

template <class Stream>
void Session<Stream>::respond(api::HttpResponse r, bool keep_alive) {
  if (server_.interrupted() && r.status == 499) {
    // Interrupted by shutdown, not by its client: say so.
    r = unavailable("the server is shutting down; this request was interrupted", request_id_);
  }
  const bool streaming = r.events && r.status == 200 && method_ != "HEAD";
  // An event stream's body ends with the connection.
  if (server_.stopping() || streaming) keep_alive = false;
  auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), 11);
  res->set(http::field::server, "sightline/" SIGHTLINE_VERSION);
  if (!r.content_type.empty()) res->set(http::field::content_type, r.content_type);
  res->set("X-Request-Id", request_id_);
  if (trace_) res->set("traceparent", format_traceparent(*trace_));
  res->set("X-Content-Type-Options", "nosniff");
  res->set("Referrer-Policy", "no-referrer");
  for (const auto& [k, v] : r.headers) res->insert(k, v);  // insert: Set-Cookie may repeat
  rows_ = r.rows;
  route_ = std::move(r.route);
  user_ = std::move(r.log_user);
  const bool from_file = r.file_body && r.status != 304;
  if (r.status == 304) {
    // Not modified: no body and no length (the length would describe the unsent representation).
  } else if (method_ == "HEAD") {
    res->content_length(from_file ? r.file_body->size() : r.body.size());
  } else if (streaming) {
    // No length, not chunked: the body is what follows the header until the connection closes.
    // Set after the handler's headers, so each of these is there once.
    events_ = std::move(r.events);
    res->set(http::field::content_type, "text/event-stream");
    res->set(http::field::cache_control, "no-store");
    res->set("X-Accel-Buffering", "no");  // nginx passes each event on at once
  } else if (from_file) {
    res->content_length(r.file_body->size());
    file_body_ = std::move(r.file_body);
    file_sent_ = 0;
  } else {
    res->body() = std::move(r.body);
    res->prepare_payload();
  }
  res->keep_alive(keep_alive);
  response_ = res;
  server_.count_answer(route_, method_, r.status);
  handling_ = false;
  if (watching_ && !events_) {
    beast::error_code ignored;
    socket().cancel(ignored);  // ends the hang-up watch (operation_aborted)
  }
  // (An event stream keeps the watch: the client leaving ends the stream.)
  lowest().expires_after(server_.options().read_timeout);
  if (events_) {
    header_serializer_.emplace(*response_);
    http::async_write_header(stream_, *header_serializer_, [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->on_write(false, ec, n);
      self->start_stream(n);
    });
    return;
  }
  if (file_body_) {
    header_serializer_.emplace(*response_);
    http::async_write_header(stream_, *header_serializer_, [self = this->shared_from_this(), keep_alive](beast::error_code ec, size_t n) {
      if (ec) return self->on_write(keep_alive, ec, n);
      self->send_file_piece(keep_alive, n);
    });
    return;
  }
  http::async_write(stream_, *response_, beast::bind_front_handler(&Session::on_write, this->shared_from_this(), keep_alive));
}

template <class Stream>
void Session<Stream>::send_file_piece(bool keep_alive, size_t written) {
  const uint64_t size = file_body_->size();
  if (file_sent_ >= size) return on_write(keep_alive, {}, written);
  constexpr size_t kPieceBytes = 256 * 1024;
  file_piece_.resize(kPieceBytes);
  const size_t want = static_cast<size_t>(std::min<uint64_t>(kPieceBytes, size - file_sent_));
  ssize_t got = ::pread(file_body_->fd(), file_piece_.data(), want, static_cast<off_t>(file_sent_));
  if (got <= 0) {
    // The spool file cannot be read back: the answer stays short of its Content-Length, so the
    // client sees a broken download, never a complete-looking one.
    server_.log().error("spool_read_failed", {{"request_id", request_id_}, {"error", got < 0 ? std::strerror(errno) : "end of file"}});
    return on_write(false, asio::error::make_error_code(asio::error::broken_pipe), written);
  }
  lowest().expires_after(server_.options().read_timeout);
  asio::async_write(stream_, asio::buffer(file_piece_.data(), static_cast<size_t>(got)),
                    [self = this->shared_from_this(), keep_alive, written](beast::error_code ec, size_t n) {
                      self->file_sent_ += n;
                      if (ec) return self->on_write(keep_alive, ec, written + n);
                      self->send_file_piece(keep_alive, written + n);
                    });
}

template <class Stream>
void Session<Stream>::log_request(size_t bytes, beast::error_code ec, const char* stream_end) {
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
  nlohmann::json fields = {{"request_id", request_id_},
                           {"method", method_},
                           {"path", path_},
                           {"status", response_ ? response_->result_int() : 0},
                           {"duration_ms", std::round(ms * 100) / 100},
                           {"bytes", bytes}};
  if (rows_ >= 0) fields["rows"] = rows_;
  if (!user_.empty()) fields["user"] = user_;
  if (trace_) fields["trace_id"] = trace_->trace_hex();
  if (stream_end) fields["stream_end"] = stream_end;
  if (ec) fields["error"] = ec.message();
  server_.log().info("request", fields);
  if (!response_) server_.count_answer(route_, method_, 0);  // ended before any answer
  server_.observe_duration(route_, method_, ms / 1000);
  if (trace_) {
    Tracer* tracer = server_.options().tracer;
    SpanRecord span;
    const int status = response_ ? static_cast<int>(response_->result_int()) : 0;
    span.name = method_label(method_) + " " + (route_.empty() ? "other" : route_);
    span.context = *trace_;
    span.parent = trace_parent_;
    span.kind = 2;  // server
    span.start_unix_ns = trace_start_ns_;
    span.end_unix_ns = tracer->now_unix_ns();
    span.attributes = {{"http.request.method", method_label(method_)},
                       {"http.route", route_.empty() ? "other" : route_},
                       {"http.response.status_code", static_cast<int64_t>(status)},
                       {"sightline.request_id", request_id_}};
    if (status >= 500 || ec) {
      span.error = true;
      span.status_message = ec ? "the answer could not be written" : "HTTP " + std::to_string(status);
    }
    tracer->finish(std::move(span));
    trace_.reset();
  }
}

template <class Stream>
void Session<Stream>::on_write(bool keep_alive, beast::error_code ec, size_t bytes) {
  log_request(bytes, ec, nullptr);
  response_.reset();
  header_serializer_.reset();
  file_body_.reset();
  file_piece_ = {};
  events_.reset();
  if (counted_) {
    counted_ = false;
    --server_.in_flight();
  }
  if (ec || !keep_alive) {
    beast::error_code ignored;
    if (!ec && drain_after_write_) {
      if constexpr (!kIsTls<Stream>) socket().shutdown(tcp::socket::shutdown_send, ignored);
      return drain_then_close();
    }
    if constexpr (kIsTls<Stream>) {
      if (!ec) return finish(true);
    }
    socket().shutdown(tcp::socket::shutdown_send, ignored);
    --server_.connections();
    return;
  }
  cancel_.reset();
  if (watching_) {
    read_after_watch_ = true;  // one read at a time: the watch's cancelled read ends first
    return;
  }
  do_read();
}

template <class Stream>
void Session<Stream>::start_stream(size_t header_bytes) {
  streaming_ = true;
  stream_bytes_ = header_bytes;
  // From here on the stream is not a request in flight: a graceful stop does not wait for it.
  if (counted_) {
    counted_ = false;
    --server_.in_flight();
  }
  std::weak_ptr<Session> weak = this->weak_from_this();
  auto executor = stream_.get_executor();
  stream_id_ = server_.add_stream([weak, executor] {
    asio::post(executor, [weak] {
      if (auto self = weak.lock()) self->end_stream("server_stopping");
    });
  });
  if (server_.stopping()) return end_stream("server_stopping");
  // The client left while the handler ran or the header was written.
  if (cancel_ && cancel_->cancelled()) return end_stream("client_closed");
  heartbeat_.emplace(executor);
  arm_heartbeat();
  if constexpr (!kIsTls<Stream>) {
    if (!watching_) watch_hangup();
  }
  try {
    // Called from any thread: the chunk goes to this session's strand; once the session is gone
    // (the stream ended) it goes nowhere.
    subscription_ = events_->start([weak, executor](std::string chunk) {
      asio::post(executor, [weak, chunk = std::move(chunk)]() mutable {
        if (auto self = weak.lock()) self->stream_push(std::move(chunk));
      });
    });
  } catch (const std::exception& e) {
    server_.log().error("event_stream_failed", {{"request_id", request_id_}, {"message", e.what()}});
    end_stream("failed");
  }
}

template <class Stream>
void Session<Stream>::stream_push(std::string chunk) {
  if (stream_ended_ || chunk.empty()) return;
  // A client that reads nothing: its write times out after read_timeout; until then what waits
  // for it is bounded.
  constexpr size_t kMaxPendingBytes = 1 << 20;
  if (stream_pending_.size() + chunk.size() > kMaxPendingBytes) return end_stream("client_too_slow");
  stream_pending_ += chunk;
  if (!stream_writing_) stream_write_next();
}

template <class Stream>
void Session<Stream>::stream_write_next() {
  if (stream_ended_ || stream_pending_.empty()) return;
  // Everything pushed meanwhile goes in one write.
  stream_chunk_ = std::exchange(stream_pending_, {});
  stream_writing_ = true;
  lowest().expires_after(server_.options().read_timeout);
  asio::async_write(stream_, asio::buffer(stream_chunk_), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
    self->stream_writing_ = false;
    self->stream_bytes_ += n;
    if (self->stream_ended_) return;
    if (ec) return self->end_stream(ec == beast::error::timeout ? "write_timeout" : "write_failed", ec);
    self->stream_write_next();
  });
}

template <class Stream>
void Session<Stream>::arm_heartbeat() {
  heartbeat_->expires_after(server_.options().event_heartbeat);
  heartbeat_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
    if (ec || self->stream_ended_) return;
    self->stream_push(": keepalive\n\n");
    if (!self->stream_ended_) self->arm_heartbeat();
  });
}

template <class Stream>
void Session<Stream>::end_stream(const char* why, beast::error_code ec) {
  if (stream_ended_) return;
  stream_ended_ = true;
  server_.remove_stream(stream_id_);
  // No more deliveries: the handler's subscription goes first (it may wait for a delivery under
  // way on another thread; that one only posts to this strand).
  subscription_.reset();
  events_.reset();
  if (heartbeat_) heartbeat_->cancel();
  stream_pending_.clear();
  log_request(stream_bytes_, ec, why);
  response_.reset();
  header_serializer_.reset();
  cancel_.reset();
  if constexpr (kIsTls<Stream>) {
    // close_notify when nothing is being written (a TLS stream writes one thing at a time).
    if (!ec && !stream_writing_) return finish(true);
  }
  beast::error_code ignored;
  socket().shutdown(tcp::socket::shutdown_both, ignored);
  socket().close(ignored);  // ends the watch read and any write under way
  --server_.connections();
}

}  // namespace

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& options, Handler handler, Logger& log) {
  return start(options, Handlers{std::move(handler), nullptr, nullptr}, log);
}

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& options, Handlers handlers, Logger& log) {
  auto server = std::make_unique<ServerImpl>(options, std::move(handlers), log);
  if (auto r = server->listen(); !r) return fail(r.error());
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace sightline::server
