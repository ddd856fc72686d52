// The server's event streams (api::HttpResponse::events, server/server.h): the header says
// text/event-stream with no length, pushed chunks follow in order, a comment line comes every
// event_heartbeat, and the stream ends (its subscription destroyed, its request line logged) when
// the client leaves, when the client stops reading, or at once when the server stops. Real
// sockets on the loopback interface.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <sstream>
#include <thread>

#include "server/server.h"

namespace sightline::server {
namespace {

using namespace std::chrono_literals;

// What the test's stream was given, and whether its subscription is still held by the server.
struct Probe {
  std::mutex mutex;
  api::EventStream::Push push;
  std::atomic<int> started{0};
  std::atomic<bool> subscribed{false};

  void send(std::string chunk) {
    api::EventStream::Push p;
    {
      std::lock_guard lock(mutex);
      p = push;
    }
    if (p) p(std::move(chunk));
  }
  bool wait_unsubscribed(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (subscribed.load() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
    return !subscribed.load();
  }
};

class ProbeStream final : public api::EventStream {
 public:
  explicit ProbeStream(std::shared_ptr<Probe> probe) : probe_(std::move(probe)) {}
  Subscription start(Push push) override {
    push("retry: 3000\nevent: hello\ndata: {}\n\n");
    {
      std::lock_guard lock(probe_->mutex);
      probe_->push = push;
    }
    probe_->subscribed = true;
    ++probe_->started;
    return Subscription(static_cast<void*>(nullptr), [probe = probe_](void*) { probe->subscribed = false; });
  }

 private:
  std::shared_ptr<Probe> probe_;
};

// A blocking HTTP/1.1 client over a plain socket.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ADD_FAILURE() << "cannot connect";
  }
  ~Client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void get(const std::string& target) {
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
    ASSERT_EQ(::send(fd_, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  }
  // Reads until `text` is among the bytes received (true) or the connection ends or the time is up.
  bool read_until(const std::string& text, std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (got.find(text) == std::string::npos) {
      if (!read_some(until)) return false;
    }
    return true;
  }
  // True when the server ends the connection within `timeout`.
  bool read_to_end(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (read_some(until)) {
    }
    return ended;
  }
  std::string got;
  bool ended = false;

 private:
  bool read_some(std::chrono::steady_clock::time_point until) {
    if (ended) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[8192];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      ended = true;
      return false;
    }
    got.append(buf, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
};

class ServerEvents : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    options.worker_threads = 2;
    auto started = Server::start(
        options,
        [this](const api::HttpRequest& req) {
          api::HttpResponse r;
          if (req.target.starts_with("/events")) {
            r.content_type = "text/event-stream";
            r.headers.emplace_back("Cache-Control", "no-store");
            r.events = std::make_shared<ProbeStream>(probe_);
            r.route = "/events";
          } else {
            r.body = "{\"ok\":true}";
          }
          return r;
        },
        log_);
    ASSERT_TRUE(started) << started.error().message;
    server_ = std::move(*started);
  }
  void TearDown() override {
    if (server_) server_->stop();
  }
  // The log, once the server has stopped (the logger writes from its threads until then).
  std::string stopped_log() {
    server_->stop();
    return log_text_.str();
  }

  std::shared_ptr<Probe> probe_ = std::make_shared<Probe>();
  std::ostringstream log_text_;
  Logger log_{log_text_};
  std::unique_ptr<Server> server_;
};

TEST_F(ServerEvents, HeaderThenPushedChunksInOrderAndHeartbeats) {
  start({.event_heartbeat = 100ms});
  Client c(server_->port());
  c.get("/events");
  ASSERT_TRUE(c.read_until("event: hello\ndata: {}\n\n", 5s)) << c.got;
  const std::string head = c.got.substr(0, c.got.find("\r\n\r\n"));
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n")) << head;
  EXPECT_NE(head.find("\r\nContent-Type: text/event-stream"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nCache-Control: no-store"), std::string::npos) << head;
  EXPECT_EQ(head.find("Cache-Control", head.find("Cache-Control") + 1), std::string::npos) << "once: " << head;
  EXPECT_NE(head.find("\r\nX-Accel-Buffering: no"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nConnection: close"), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
  EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
  EXPECT_EQ(c.got.substr(head.size() + 4).rfind("retry: 3000\n", 0), 0u) << "the body starts with what start() pushed first";

  // Chunks pushed from other threads arrive whole and in the order pushed.
  std::thread pusher([&] {
    for (int i = 0; i < 200; ++i) probe_->send("event: n\ndata: " + std::to_string(i) + "\n\n");
  });
  pusher.join();
  ASSERT_TRUE(c.read_until("data: 199\n\n", 5s)) << c.got;
  size_t at = 0;
  for (int i = 0; i < 200; ++i) {
    size_t next = c.got.find("event: n\ndata: " + std::to_string(i) + "\n\n", at);
    ASSERT_NE(next, std::string::npos) << "chunk " << i << " in order";
    at = next;
  }
  // Heartbeats: a comment line every 100 ms (several by now and within the next second).
  c.got.clear();
  ASSERT_TRUE(c.read_until(": keepalive\n\n: keepalive\n\n", 2s)) << c.got;

  // The server answers other requests meanwhile.
  Client other(server_->port());
  other.get("/plain");
  EXPECT_TRUE(other.read_until("{\"ok\":true}", 5s)) << other.got;
  EXPECT_TRUE(probe_->subscribed.load());
}

TEST_F(ServerEvents, TheClientLeavingEndsTheStreamAndItsSubscription) {
  start();  // heartbeats every 15 s: the watch on the socket notices, not a failed write
  Client c(server_->port());
  c.get("/events?x=1");
  ASSERT_TRUE(c.read_until("event: hello", 5s)) << c.got;
  ASSERT_TRUE(probe_->subscribed.load());
  c.close();
  EXPECT_TRUE(probe_->wait_unsubscribed(5s)) << "the subscription is destroyed once the client left";
  probe_->send("data: late\n\n");  // after the end: goes nowhere
  std::string log = stopped_log();
  size_t line = log.find("\"event\":\"request\"");
  ASSERT_NE(line, std::string::npos) << log;
  std::string request = log.substr(line, log.find('\n', line) - line);
  EXPECT_NE(request.find("\"path\":\"/events\""), std::string::npos) << request;
  EXPECT_NE(request.find("\"status\":200"), std::string::npos) << request;
  EXPECT_NE(request.find("\"stream_end\":\"client_closed\""), std::string::npos) << request;
}

TEST_F(ServerEvents, StopEndsOpenStreamsAtOnceWithoutWaitingForThem) {
  start({.shutdown_timeout = 30s});
  Client a(server_->port()), b(server_->port());
  a.get("/events");
  b.get("/events");
  ASSERT_TRUE(a.read_until("event: hello", 5s));
  ASSERT_TRUE(b.read_until("event: hello", 5s));
  auto began = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - began, 3s) << "streams are not requests in flight";
  EXPECT_TRUE(a.read_to_end(2s)) << "the server closed the stream";
  EXPECT_TRUE(b.read_to_end(2s));
  EXPECT_FALSE(probe_->subscribed.load());
  std::string log = log_text_.str();
  EXPECT_NE(log.find("\"stream_end\":\"server_stopping\""), std::string::npos) << log;
}

TEST_F(ServerEvents, AClientThatStopsReadingIsDropped) {
  start({.read_timeout = 1s});
  Client c(server_->port());
  c.get("/events");
  ASSERT_TRUE(c.read_until("event: hello", 5s));
  // Far more than the socket buffers hold; the client reads none of it.
  const std::string block(64 * 1024, 'x');
  for (int i = 0; i < 64 && probe_->subscribed.load(); ++i) probe_->send("data: " + block + "\n\n");
  EXPECT_TRUE(probe_->wait_unsubscribed(10s)) << "a stalled client is dropped";
  std::string log = stopped_log();
  EXPECT_TRUE(log.find("\"stream_end\":\"client_too_slow\"") != std::string::npos ||
              log.find("\"stream_end\":\"write_timeout\"") != std::string::npos)
      << log;
}

}  // namespace
}  // namespace sightline::server
