#include "stream/mqtt_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

namespace sightline::stream::mqtt {
namespace {

void put_u16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}
void put_u32(std::string& out, uint32_t v) {
  put_u16(out, static_cast<uint16_t>(v >> 16));
  put_u16(out, static_cast<uint16_t>(v & 0xFFFF));
}
void put_varint(std::string& out, size_t v) {
  do {
    uint8_t byte = v % 128;
    v /= 128;
    if (v > 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (v > 0);
}
void put_string(std::string& out, std::string_view s) {
  put_u16(out, static_cast<uint16_t>(s.size()));
  out.append(s);
}
std::string framed(uint8_t first_byte, const std::string& body) {
  std::string out(1, static_cast<char>(first_byte));
  put_varint(out, body.size());
  return out + body;
}

// Reads a packet's body front to back; every read checks the bounds.
class BodyReader {
 public:
  BodyReader(std::string_view body, const char* packet) : body_(body), packet_(packet) {}
  bool at_end() const { return pos_ == body_.size(); }
  std::string_view rest() { return body_.substr(std::exchange(pos_, body_.size())); }
  Result<uint8_t> u8() {
    if (pos_ + 1 > body_.size()) return cut();
    return static_cast<uint8_t>(body_[pos_++]);
  }
  Result<uint16_t> u16() {
    if (pos_ + 2 > body_.size()) return cut();
    const auto v = static_cast<uint16_t>((static_cast<uint8_t>(body_[pos_]) << 8) | static_cast<uint8_t>(body_[pos_ + 1]));
    pos_ += 2;
    return v;
  }
  Result<uint32_t> u32() {
    auto hi = u16();
    if (!hi) return fail(hi.error());
    auto lo = u16();
    if (!lo) return fail(lo.error());
    return (static_cast<uint32_t>(*hi) << 16) | *lo;
  }
  Result<size_t> varint() {
    size_t value = 0;
    for (int i = 0, shift = 0; i < 4; ++i, shift += 7) {
      auto b = u8();
      if (!b) return fail(b.error());
      value |= static_cast<size_t>(*b & 0x7F) << shift;
      if (!(*b & 0x80)) return value;
    }
    return fail(ErrorKind::InvalidInput, std::string("a malformed variable length in a ") + packet_ + " packet");
  }
  Result<std::string> string() {
    auto n = u16();
    if (!n) return fail(n.error());
    if (pos_ + *n > body_.size()) return cut();
    std::string s(body_.substr(pos_, *n));
    pos_ += *n;
    return s;
  }
  // A property block: each property read by `on` (id, this reader) or skipped by its type.
  template <typename On>
  Result<void> properties(On on) {
    auto length = varint();
    if (!length) return fail(length.error());
    if (pos_ + *length > body_.size()) return cut();
    const size_t end = pos_ + *length;
    while (pos_ < end) {
      auto id = varint();
      if (!id) return fail(id.error());
      if (auto r = on(*id, *this); !r) return r;
    }
    if (pos_ != end) return cut();
    return {};
  }
  // Skips the value of property `id` (MQTT 5, section 2.2.2.2: each id has one type).
  Result<void> skip_property(size_t id) {
    switch (id) {
      case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A: {
        auto v = u8();
        return v ? Result<void>{} : fail(v.error());
      }
      case 0x13: case 0x21: case 0x22: case 0x23: {
        auto v = u16();
        return v ? Result<void>{} : fail(v.error());
      }
      case 0x02: case 0x11: case 0x18: case 0x27: {
        auto v = u32();
        return v ? Result<void>{} : fail(v.error());
      }
      case 0x0B: {
        auto v = varint();
        return v ? Result<void>{} : fail(v.error());
      }
      case 0x03: case 0x08: case 0x09: case 0x12: case 0x15: case 0x16: case 0x1A: case 0x1C: case 0x1F: {
        auto v = string();  // binary data has the same two-byte length
        return v ? Result<void>{} : fail(v.error());
      }
      case 0x26: {
        auto k = string();
        if (!k) return fail(k.error());
        auto v = string();
        return v ? Result<void>{} : fail(v.error());
      }
      default:
        return fail(ErrorKind::InvalidInput, std::string("an unknown property ") + std::to_string(id) + " in a " + packet_ + " packet");
    }
  }

 private:
  tl::unexpected<Error> cut() const { return fail(ErrorKind::InvalidInput, std::string("a ") + packet_ + " packet cut short"); }
  std::string_view body_;
  const char* packet_;
  size_t pos_ = 0;
};

Error transport(const std::string& what) { return Error{ErrorKind::Unavailable, what + ": " + std::strerror(errno), ""}; }

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string encode_connect(const ConnectOptions& o) {
  std::string body;
  put_string(body, "MQTT");
  body.push_back(5);  // protocol version
  uint8_t flags = 0;  // clean start off: resume the session the broker kept
  if (!o.user.empty()) {
    flags |= 0x80;
    if (!o.password.empty()) flags |= 0x40;
  }
  body.push_back(static_cast<char>(flags));
  put_u16(body, o.keep_alive_s);
  std::string props;
  props.push_back(0x11);
  put_u32(props, o.session_expiry_s);
  props.push_back(0x21);
  put_u16(props, o.receive_maximum);
  props.push_back(0x27);
  put_u32(props, o.maximum_packet_bytes);
  put_varint(body, props.size());
  body += props;
  put_string(body, o.client_id);
  if (!o.user.empty()) {
    put_string(body, o.user);
    if (!o.password.empty()) put_string(body, o.password);
  }
  return framed(0x10, body);
}

std::string encode_subscribe(uint16_t packet_id, std::string_view filter, int qos) {
  std::string body;
  put_u16(body, packet_id);
  put_varint(body, 0);  // no properties
  put_string(body, filter);
  body.push_back(static_cast<char>((qos & 0x03) | 0x10));  // retain handling 1: retained messages only for a new subscription
  return framed(0x82, body);
}

std::string encode_puback(uint16_t packet_id) {
  std::string body;
  put_u16(body, packet_id);  // reason 0 (success) and no properties: both left out
  return framed(0x40, body);
}

std::string encode_pingreq() { return std::string("\xC0\x00", 2); }
std::string encode_disconnect() { return std::string("\xE0\x00", 2); }

Result<std::optional<Packet>> FrameReader::next() {
  if (buffer_.size() < 2) return std::optional<Packet>{};
  size_t remaining = 0;
  size_t header = 1;
  for (int shift = 0;; shift += 7) {
    if (header >= buffer_.size()) return std::optional<Packet>{};
    const auto b = static_cast<uint8_t>(buffer_[header++]);
    remaining |= static_cast<size_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) break;
    if (header == 5) return fail(ErrorKind::InvalidInput, "a packet with a malformed length");
  }
  if (remaining > max_) return fail(ErrorKind::TooLarge, "a packet of " + std::to_string(remaining) + " bytes, over the limit of " + std::to_string(max_));
  if (buffer_.size() < header + remaining) return std::optional<Packet>{};
  Packet p;
  const auto first = static_cast<uint8_t>(buffer_[0]);
  p.type = static_cast<PacketType>(first >> 4);
  p.flags = first & 0x0F;
  p.body = buffer_.substr(header, remaining);
  buffer_.erase(0, header + remaining);
  return std::optional<Packet>(std::move(p));
}

Result<ConnAck> decode_connack(const Packet& p) {
  BodyReader r(p.body, "CONNACK");
  ConnAck out;
  auto flags = r.u8();
  if (!flags) return fail(flags.error());
  out.session_present = *flags & 0x01;
  auto reason = r.u8();
  if (!reason) return fail(reason.error());
  out.reason = *reason;
  if (r.at_end()) return out;
  auto props = r.properties([&](size_t id, BodyReader& in) -> Result<void> {
    if (id == 0x1F) {
      auto s = in.string();
      if (!s) return fail(s.error());
      out.reason_string = *s;
      return {};
    }
    if (id == 0x13 || id == 0x21) {
      auto v = in.u16();
      if (!v) return fail(v.error());
      (id == 0x13 ? out.server_keep_alive : out.receive_maximum) = *v;
      return {};
    }
    return in.skip_property(id);
  });
  if (!props) return fail(props.error());
  return out;
}

Result<SubAck> decode_suback(const Packet& p) {
  BodyReader r(p.body, "SUBACK");
  SubAck out;
  auto id = r.u16();
  if (!id) return fail(id.error());
  out.packet_id = *id;
  auto props = r.properties([&](size_t pid, BodyReader& in) -> Result<void> {
    if (pid != 0x1F) return in.skip_property(pid);
    auto s = in.string();
    if (!s) return fail(s.error());
    out.reason_string = *s;
    return {};
  });
  if (!props) return fail(props.error());
  for (char c : r.rest()) out.reasons.push_back(static_cast<uint8_t>(c));
  if (out.reasons.empty()) return fail(ErrorKind::InvalidInput, "a SUBACK packet with no reason code");
  return out;
}

Result<Publish> decode_publish(const Packet& p) {
  BodyReader r(p.body, "PUBLISH");
  Publish out;
  out.dup = p.flags & 0x08;
  out.qos = (p.flags >> 1) & 0x03;
  out.retain = p.flags & 0x01;
  if (out.qos == 3) return fail(ErrorKind::InvalidInput, "a PUBLISH packet with QoS 3");
  auto topic = r.string();
  if (!topic) return fail(topic.error());
  out.topic = std::move(*topic);
  if (out.qos > 0) {
    auto id = r.u16();
    if (!id) return fail(id.error());
    if (*id == 0) return fail(ErrorKind::InvalidInput, "a PUBLISH packet with packet identifier 0");
    out.packet_id = *id;
  }
  bool aliased = false;
  auto props = r.properties([&](size_t id, BodyReader& in) -> Result<void> {
    if (id == 0x23) aliased = true;
    return in.skip_property(id);
  });
  if (!props) return fail(props.error());
  // The client allows no topic aliases (Topic Alias Maximum 0 by default).
  if (aliased) return fail(ErrorKind::InvalidInput, "a PUBLISH packet with a topic alias, which this client did not allow");
  out.payload = std::string(r.rest());
  return out;
}

Result<Disconnect> decode_disconnect(const Packet& p) {
  BodyReader r(p.body, "DISCONNECT");
  Disconnect out;
  if (r.at_end()) return out;
  auto reason = r.u8();
  if (!reason) return fail(reason.error());
  out.reason = *reason;
  if (r.at_end()) return out;
  auto props = r.properties([&](size_t id, BodyReader& in) -> Result<void> {
    if (id != 0x1F) return in.skip_property(id);
    auto s = in.string();
    if (!s) return fail(s.error());
    out.reason_string = *s;
    return {};
  });
  if (!props) return fail(props.error());
  return out;
}

std::string reason_text(uint8_t code) {
  switch (code) {
    case 0x00: return "success";
    case 0x80: return "unspecified error";
    case 0x81: return "malformed packet";
    case 0x82: return "protocol error";
    case 0x83: return "implementation specific error";
    case 0x84: return "unsupported protocol version (the broker does not speak MQTT 5)";
    case 0x85: return "client identifier not valid";
    case 0x86: return "bad user name or password";
    case 0x87: return "not authorized";
    case 0x88: return "server unavailable";
    case 0x89: return "server busy";
    case 0x8A: return "banned";
    case 0x8B: return "server shutting down";
    case 0x8D: return "keep alive timeout";
    case 0x8E: return "session taken over (another client connected with the same client_id)";
    case 0x8F: return "topic filter invalid";
    case 0x91: return "packet identifier in use";
    case 0x93: return "receive maximum exceeded";
    case 0x95: return "packet too large";
    case 0x97: return "quota exceeded";
    case 0x9C: return "use another server";
    case 0x9D: return "server moved";
    case 0x9E: return "shared subscriptions not supported";
    case 0x9F: return "connection rate exceeded";
    case 0xA1: return "subscription identifiers not supported";
    case 0xA2: return "wildcard subscriptions not supported";
    default: return "reason code " + std::to_string(code);
  }
}

Result<Connection> Connection::open(const std::string& host, int port, int timeout_ms, size_t max_packet_bytes) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    return fail(ErrorKind::Unavailable, "cannot resolve " + host + ": " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> list(found, ::freeaddrinfo);
  const int64_t deadline = steady_ms() + timeout_ms;
  Error last{ErrorKind::Unavailable, "no address", ""};
  for (addrinfo* a = list.get(); a; a = a->ai_next) {
    Connection c(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol), max_packet_bytes);
    if (c.fd_ < 0) {
      last = transport("socket");
      continue;
    }
    if (::connect(c.fd_, a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = transport("connect");
        continue;
      }
      pollfd pfd{c.fd_, POLLOUT, 0};
      const int wait = static_cast<int>(std::max<int64_t>(0, deadline - steady_ms()));
      if (::poll(&pfd, 1, wait) <= 0) {
        last = Error{ErrorKind::Unavailable, "connect: timed out", ""};
        continue;
      }
      int so_error = 0;
      socklen_t len = sizeof so_error;
      ::getsockopt(c.fd_, SOL_SOCKET, SO_ERROR, &so_error, &len);
      if (so_error != 0) {
        errno = so_error;
        last = transport("connect");
        continue;
      }
    }
    int one = 1;
    ::setsockopt(c.fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return c;
  }
  return fail(last);
}

Connection::Connection(Connection&& other) noexcept : fd_(std::exchange(other.fd_, -1)), frames_(std::move(other.frames_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    frames_ = std::move(other.frames_);
  }
  return *this;
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> Connection::send(std::string_view bytes, int timeout_ms) {
  const int64_t deadline = steady_ms() + timeout_ms;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return fail(transport("send"));
    pollfd pfd{fd_, POLLOUT, 0};
    const int wait = static_cast<int>(std::max<int64_t>(0, deadline - steady_ms()));
    if (wait == 0 || ::poll(&pfd, 1, wait) == 0) return fail(ErrorKind::Unavailable, "send: the broker did not take the bytes in time");
  }
  return {};
}

Result<std::optional<Packet>> Connection::receive(int timeout_ms) {
  const int64_t deadline = steady_ms() + timeout_ms;
  for (;;) {
    auto packet = frames_.next();
    if (!packet || *packet) return packet;
    const int wait = static_cast<int>(std::max<int64_t>(0, deadline - steady_ms()));
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, wait);
    if (ready < 0 && errno != EINTR) return fail(transport("poll"));
    if (ready <= 0) {
      if (steady_ms() >= deadline) return std::optional<Packet>{};
      continue;
    }
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0) return fail(ErrorKind::Unavailable, "the broker closed the connection");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return fail(transport("recv"));
    }
    frames_.append(std::string_view(chunk, static_cast<size_t>(n)));
  }
}

}  // namespace sightline::stream::mqtt
