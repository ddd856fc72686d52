// The MQTT 5 codec (stream/mqtt_client.h): packets written byte for byte as the MQTT 5.0 standard
// lays them out (section 3), and packets read from hostile bytes without reading out of bounds.
// The client against a real broker: tests/integration/mqtt.test.mjs.
#include "stream/mqtt_client.h"

#include <gtest/gtest.h>

#include <random>

namespace sightline::stream::mqtt {
namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

Packet packet(PacketType type, uint8_t flags, std::string body) { return Packet{type, flags, std::move(body)}; }

TEST(MqttCodec, ConnectIsLaidOutAsTheStandardSays) {
  ConnectOptions o;
  o.client_id = "c1";
  o.user = "u";
  o.password = "pw";
  o.keep_alive_s = 30;
  o.session_expiry_s = 3600;
  o.receive_maximum = 500;
  o.maximum_packet_bytes = 1 << 20;
  const std::string want = bytes({0x10, 35,                                    // CONNECT, remaining length
                                  0, 4, 'M', 'Q', 'T', 'T', 5,                  // protocol name, version 5
                                  0xC0,                                         // user + password, clean start off
                                  0, 30,                                        // keep alive
                                  13,                                           // properties
                                  0x11, 0, 0, 0x0E, 0x10,                       // session expiry 3600
                                  0x21, 0x01, 0xF4,                             // receive maximum 500
                                  0x27, 0, 0x10, 0, 0,                          // maximum packet size 1 MiB
                                  0, 2, 'c', '1', 0, 1, 'u', 0, 2, 'p', 'w'});  // payload
  EXPECT_EQ(encode_connect(o), want);
  o.user.clear();
  const std::string anonymous = encode_connect(o);
  EXPECT_EQ(static_cast<uint8_t>(anonymous[10]), 0x00) << "no user: neither flag, and no password is sent";
  EXPECT_EQ(anonymous.size(), want.size() - 7);
}

TEST(MqttCodec, SubscribeAckAndPingAreLaidOutAsTheStandardSays) {
  EXPECT_EQ(encode_subscribe(7, "a/+", 1), bytes({0x82, 9, 0, 7, 0, 0, 3, 'a', '/', '+', 0x11}));
  EXPECT_EQ(encode_puback(0x1234), bytes({0x40, 2, 0x12, 0x34}));
  EXPECT_EQ(encode_pingreq(), bytes({0xC0, 0}));
  EXPECT_EQ(encode_disconnect(), bytes({0xE0, 0}));
}

TEST(MqttCodec, FramesAreSplitWhateverTheChunksAre) {
  std::string payload(300, 'x');  // a two-byte remaining length
  std::string body = bytes({0, 3, 'a', '/', 'b', 0, 9, 0}) + payload;
  std::string publish = bytes({0x32, static_cast<int>((body.size() & 0x7F) | 0x80), static_cast<int>(body.size() >> 7)}) + body;
  const std::string stream = publish + bytes({0xD0, 0}) + publish;
  std::mt19937 rng(5);
  for (int round = 0; round < 50; ++round) {
    FrameReader reader(1 << 20);
    std::vector<Packet> got;
    for (size_t at = 0; at < stream.size();) {
      const size_t n = std::min<size_t>(stream.size() - at, 1 + rng() % 40);
      reader.append(std::string_view(stream).substr(at, n));
      at += n;
      for (;;) {
        auto p = reader.next();
        ASSERT_TRUE(p.has_value());
        if (!*p) break;
        got.push_back(std::move(**p));
      }
    }
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[1].type, PacketType::PingResp);
    auto m = decode_publish(got[2]);
    ASSERT_TRUE(m.has_value()) << m.error().message;
    EXPECT_EQ(m->topic, "a/b");
    EXPECT_EQ(m->qos, 1);
    EXPECT_FALSE(m->dup);
    EXPECT_EQ(m->packet_id, 9);
    EXPECT_EQ(m->payload, payload);
  }
}

TEST(MqttCodec, MalformedAndOversizedFramesFail) {
  FrameReader bad_length(1 << 20);
  bad_length.append(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}));
  auto a = bad_length.next();
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().message, "a packet with a malformed length");
  FrameReader small(100);
  small.append(bytes({0x30, 0xE5, 0x01}));  // 229 bytes announced
  auto b = small.next();
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().kind, ErrorKind::TooLarge);
}

TEST(MqttCodec, PublishFlagsPropertiesAndQosZero) {
  // QoS 0, retained: no packet id; a property block (message expiry, a user property) skipped.
  auto m = decode_publish(packet(PacketType::Publish, 0x01,
                                 bytes({0, 1, 't', 12, 0x02, 0, 0, 0, 60, 0x26, 0, 1, 'k', 0, 1, 'v', '{', '}'})));
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->qos, 0);
  EXPECT_TRUE(m->retain);
  EXPECT_EQ(m->packet_id, 0);
  EXPECT_EQ(m->payload, "{}");
  auto dup = decode_publish(packet(PacketType::Publish, 0x0A, bytes({0, 1, 't', 0, 3, 0})));
  ASSERT_TRUE(dup.has_value());
  EXPECT_TRUE(dup->dup);
  EXPECT_EQ(dup->qos, 1);
  EXPECT_EQ(dup->payload, "");
}

TEST(MqttCodec, HostilePublishesAreRefusedNotRead) {
  const std::vector<std::pair<Packet, std::string>> cases = {
      {packet(PacketType::Publish, 0x06, bytes({0, 1, 't', 0, 1, 0})), "a PUBLISH packet with QoS 3"},
      {packet(PacketType::Publish, 0x02, bytes({0, 1, 't', 0, 0, 0})), "a PUBLISH packet with packet identifier 0"},
      {packet(PacketType::Publish, 0x00, bytes({0, 9, 't'})), "a PUBLISH packet cut short"},
      {packet(PacketType::Publish, 0x00, bytes({0, 1, 't', 20, 0x02, 0})), "a PUBLISH packet cut short"},
      {packet(PacketType::Publish, 0x00, bytes({0, 1, 't', 2, 0x7E, 0})), "an unknown property 126 in a PUBLISH packet"},
      {packet(PacketType::Publish, 0x00, bytes({0, 1, 't', 3, 0x23, 0, 1})), "a PUBLISH packet with a topic alias, which this client did not allow"},
      {packet(PacketType::Publish, 0x00, bytes({0, 1, 't', 0xFF, 0xFF, 0xFF, 0xFF})), "a malformed variable length in a PUBLISH packet"},
  };
  for (const auto& [p, message] : cases) {
    auto m = decode_publish(p);
    ASSERT_FALSE(m.has_value()) << message;
    EXPECT_EQ(m.error().message, message);
  }
  // Every prefix of a valid packet fails cleanly.
  const std::string whole = bytes({0, 3, 'a', '/', 'b', 0, 9, 5, 0x01, 1, 0x23 - 0x20, 0, 1, 'x'});
  for (size_t n = 0; n < 9; ++n) EXPECT_FALSE(decode_publish(packet(PacketType::Publish, 0x02, whole.substr(0, n))).has_value()) << n;
}

TEST(MqttCodec, ConnAckSubAckAndDisconnectCarryTheirReasons) {
  auto accepted = decode_connack(packet(PacketType::ConnAck, 0, bytes({1, 0, 6, 0x13, 0, 60, 0x21, 0, 20})));
  ASSERT_TRUE(accepted.has_value()) << accepted.error().message;
  EXPECT_TRUE(accepted->session_present);
  EXPECT_EQ(accepted->reason, 0);
  EXPECT_EQ(accepted->server_keep_alive, 60);
  EXPECT_EQ(accepted->receive_maximum, 20);
  auto refused = decode_connack(packet(PacketType::ConnAck, 0, bytes({0, 0x86, 6, 0x1F, 0, 3, 'b', 'a', 'd'})));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->reason, 0x86);
  EXPECT_EQ(refused->reason_string, "bad");
  EXPECT_EQ(reason_text(refused->reason), "bad user name or password");
  auto suback = decode_suback(packet(PacketType::SubAck, 0, bytes({0, 1, 0, 0x87})));
  ASSERT_TRUE(suback.has_value());
  EXPECT_EQ(suback->packet_id, 1);
  EXPECT_EQ(suback->reasons, std::vector<uint8_t>{0x87});
  EXPECT_FALSE(decode_suback(packet(PacketType::SubAck, 0, bytes({0, 1, 0}))).has_value()) << "a SUBACK names a reason per filter";
  auto bye = decode_disconnect(packet(PacketType::Disconnect, 0, bytes({0x8E})));
  ASSERT_TRUE(bye.has_value());
  EXPECT_NE(reason_text(bye->reason).find("session taken over"), std::string::npos);
  EXPECT_EQ(decode_disconnect(packet(PacketType::Disconnect, 0, "")).value().reason, 0);
  EXPECT_EQ(reason_text(0x42), "reason code 66");
}

}  // namespace
}  // namespace sightline::stream::mqtt
