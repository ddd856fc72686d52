// A small MQTT 5 client for `mqtt:` sources (cli/stream_reader.h): connect with a session the
// broker keeps while the server is away, subscribe at QoS 1, receive PUBLISH packets and
// acknowledge each one only when the caller says so, after its rows are committed.
//
// Why not libmosquitto: it acknowledges a QoS 1 message before handing it to the application, so
// a server killed between the two would lose messages the broker considers delivered.
// Why MQTT 5 and not 3.1.1: the client sets how many unacknowledged messages the broker may send
// it (Receive Maximum); under 3.1.1 that is the broker's setting (mosquitto: 20), which would cap a
// batch at 20 messages and a source at a few dozen messages a second.
//
// The codec functions are pure and thread-safe; a Connection is used by one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace sightline::stream::mqtt {

enum class PacketType : uint8_t {
  Connect = 1, ConnAck = 2, Publish = 3, PubAck = 4, Subscribe = 8, SubAck = 9, PingReq = 12, PingResp = 13, Disconnect = 14
};

struct ConnectOptions {
  std::string client_id;
  std::string user;      // none when empty
  std::string password;  // sent only with a user
  uint16_t keep_alive_s = 30;
  uint32_t session_expiry_s = 7 * 86'400;  // how long the broker keeps the session (and queues) while away
  uint16_t receive_maximum = 1000;         // unacknowledged QoS 1 messages the broker may send at once
  uint32_t maximum_packet_bytes = 4u << 20;  // the broker drops (does not send) larger messages
};

std::string encode_connect(const ConnectOptions& o);
// SUBSCRIBE one filter at `qos`; retained messages only when the subscription is new (not again
// at every reconnect of a kept session).
std::string encode_subscribe(uint16_t packet_id, std::string_view filter, int qos);
std::string encode_puback(uint16_t packet_id);
std::string encode_pingreq();
std::string encode_disconnect();

// One packet off the wire: its type, the fixed header's flags and the rest.
struct Packet {
  PacketType type{};
  uint8_t flags = 0;
  std::string body;
};

// Splits a byte stream into packets. Fails (and stays failed) on a malformed length or a packet
// over `max_packet_bytes`.
class FrameReader {
 public:
  explicit FrameReader(size_t max_packet_bytes) : max_(max_packet_bytes) {}
  void append(std::string_view bytes) { buffer_.append(bytes); }
  // The next whole packet; nullopt while more bytes are needed.
  Result<std::optional<Packet>> next();

 private:
  size_t max_;
  std::string buffer_;
};

struct ConnAck {
  bool session_present = false;
  uint8_t reason = 0;  // 0: accepted
  std::string reason_string;
  std::optional<uint16_t> server_keep_alive;
  std::optional<uint16_t> receive_maximum;  // the broker's, for what we would send (nothing at QoS > 0)
};
struct SubAck {
  uint16_t packet_id = 0;
  std::vector<uint8_t> reasons;  // per filter: the granted QoS (0-2) or a failure (>= 0x80)
  std::string reason_string;
};
struct Publish {
  std::string topic;
  int qos = 0;
  bool dup = false;
  bool retain = false;
  uint16_t packet_id = 0;  // QoS > 0 only
  std::string payload;
};
struct Disconnect {
  uint8_t reason = 0;
  std::string reason_string;
};

// Each fails with InvalidInput saying what is malformed.
Result<ConnAck> decode_connack(const Packet& p);
Result<SubAck> decode_suback(const Packet& p);
Result<Publish> decode_publish(const Packet& p);
Result<Disconnect> decode_disconnect(const Packet& p);

// What a CONNACK, SUBACK or DISCONNECT reason code means, for messages ("bad user name or password").
std::string reason_text(uint8_t code);

// A TCP connection to a broker. Blocking with timeouts; not thread-safe.
class Connection {
 public:
  // Connects within `timeout_ms` (every address the host resolves to, in turn).
  static Result<Connection> open(const std::string& host, int port, int timeout_ms, size_t max_packet_bytes);
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Writes all of `bytes` (within `timeout_ms`).
  Result<void> send(std::string_view bytes, int timeout_ms = 5000);
  // The next packet, waiting up to `timeout_ms`; nullopt when none came in that time.
  Result<std::optional<Packet>> receive(int timeout_ms);

 private:
  Connection(int fd, size_t max_packet_bytes) : fd_(fd), frames_(max_packet_bytes) {}
  int fd_ = -1;
  FrameReader frames_;
};

}  // namespace sightline::stream::mqtt
