// The reader of an `mqtt:` source (cli/stream_reader.h): MQTT 5 over stream/mqtt_client.h.
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "stream/mqtt_client.h"
#include "cli/stream_batch.h"
#include "cli/stream_reader.h"
#include "config/service_url.h"

namespace sightline::cli {
namespace mqtt = stream::mqtt;
namespace fs = std::filesystem;
namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr int kConnectTimeoutMs = 5000;
constexpr uint16_t kKeepAliveS = 30;
constexpr uint32_t kMaxPacketBytes = 4u << 20;
constexpr uint16_t kSubscribeId = 1;

// "mqtt-<wall ms>-<n>.parquet", zero-padded so names sort in arrival order.
std::string batch_file_name(int64_t now_ms, uint64_t n) {
  char name[80];
  std::snprintf(name, sizeof name, "mqtt-%020lld-%08llu.parquet", static_cast<long long>(now_ms), static_cast<unsigned long long>(n));
  return name;
}

// One MQTT source's session with its broker. Used by its reader thread only.
class MqttSourceReader {
 public:
  MqttSourceReader(std::string source, api::SourceBoard& board, Logger& log)
      : source_(source), board_(board), log_(log), health_(std::move(source), board, log) {}

  // Connects and subscribes when not connected; false with the reason reported otherwise.
  bool connect(const config::MqttSpec& spec) {
    if (conn_) return true;
    auto address = config::parse_mqtt_url(spec.url);
    if (!address) return report_failure("the MQTT URL is not valid: " + address.error().message);
    const std::string where = address->host + ":" + std::to_string(address->port);
    auto c = mqtt::Connection::open(address->host, address->port, kConnectTimeoutMs, kMaxPacketBytes);
    if (!c) return report_failure("cannot reach the MQTT broker at " + where + ": " + c.error().message);
    mqtt::ConnectOptions options;
    options.client_id = spec.client_id;
    options.user = address->user;
    options.password = address->password;
    options.keep_alive_s = kKeepAliveS;
    options.session_expiry_s = static_cast<uint32_t>(spec.session_expiry_s);
    options.receive_maximum = static_cast<uint16_t>(spec.batch);
    options.maximum_packet_bytes = kMaxPacketBytes;
    if (auto sent = c->send(mqtt::encode_connect(options)); !sent) return report_failure("the MQTT broker at " + where + ": " + sent.error().message);
    auto ack = c->receive(kConnectTimeoutMs);
    if (!ack) return report_failure("the MQTT broker at " + where + ": " + ack.error().message);
    if (!*ack || (*ack)->type != mqtt::PacketType::ConnAck)
      return report_failure("the MQTT broker at " + where + " did not accept the connection in time (does it speak MQTT 5?)");
    auto connack = mqtt::decode_connack(**ack);
    if (!connack) return report_failure("the MQTT broker at " + where + ": " + connack.error().message);
    if (connack->reason >= 0x80)
      return report_failure("the MQTT broker at " + where + " refused the connection: " + mqtt::reason_text(connack->reason) +
                            (connack->reason_string.empty() ? "" : " (" + connack->reason_string + ")"));
    keep_alive_s_ = connack->server_keep_alive.value_or(kKeepAliveS);
    conn_.emplace(std::move(*c));
    last_sent_ms_ = last_received_ms_ = steady_ms();
    // Subscribing again to a kept session's filter changes nothing (and sends no retained
    // message again); it makes a session the broker lost read from now on.
    if (!send(mqtt::encode_subscribe(kSubscribeId, spec.topic, 1))) return false;
    const int64_t deadline = steady_ms() + kConnectTimeoutMs;
    for (;;) {
      auto p = conn_->receive(static_cast<int>(std::max<int64_t>(0, deadline - steady_ms())));
      if (!p) return drop("reading from the MQTT broker failed: " + p.error().message);
      if (!*p) return drop("the MQTT broker did not answer the subscription to '" + spec.topic + "' in time");
      last_received_ms_ = steady_ms();
      if ((*p)->type == mqtt::PacketType::Publish) {
        // Messages kept for the session may come before the subscription's answer.
        auto m = mqtt::decode_publish(**p);
        if (!m) return drop("the MQTT broker sent " + m.error().message);
        early_.push_back(std::move(*m));
        continue;
      }
      if ((*p)->type != mqtt::PacketType::SubAck) continue;
      auto suback = mqtt::decode_suback(**p);
      if (!suback) return drop("the MQTT broker sent " + suback.error().message);
      if (suback->reasons.front() >= 0x80)
        return drop("the MQTT broker refused the subscription to '" + spec.topic + "': " + mqtt::reason_text(suback->reasons.front()) +
                    (suback->reason_string.empty() ? "" : " (" + suback->reason_string + ")"));
      break;
    }
    log_.info("stream_connected", {{"source", source_}, {"broker", where}, {"topic", spec.topic}, {"session_present", connack->session_present}});
    return true;
  }

  // Reads one batch of messages and appends it, then acknowledges them; false when the
  // connection failed or the batch could not be appended (the caller waits, then connects again:
  // the broker sends what was not acknowledged again on the new connection).
  bool step(const api::Snapshot& snap, const config::SourceSpec& spec) {
    std::vector<mqtt::Publish> got = std::move(early_);
    early_.clear();
    // Up to a second for the first message, then half a second (or a full batch) for more, so
    // that a steady trickle makes a few files a second rather than one per message.
    int64_t until = steady_ms() + (got.empty() ? 1000 : 500);
    while (static_cast<int64_t>(got.size()) < spec.mqtt->batch) {
      if (!keep_alive()) return false;
      const int64_t now = steady_ms();
      if (now >= until) break;
      auto m = next_publish(static_cast<int>(std::min<int64_t>(until - now, 1000)));
      if (!m) return false;
      if (!*m) continue;
      if (got.empty()) until = steady_ms() + 500;
      got.push_back(std::move(**m));
    }
    if (got.empty()) return true;
    const fs::path folder = snap.engine->ingest_folder(source_);
    if (folder.empty()) return drop_quietly();  // not loaded (a failed reload): the broker sends them again later
    std::vector<StreamMessage> messages;
    messages.reserve(got.size());
    for (const auto& m : got) {
      auto fields = message_fields(m, spec);
      if (fields) messages.push_back({m.topic, std::move(*fields)});
    }
    if (!messages.empty()) {
      std::vector<const StreamMessage*> batch;
      for (const auto& m : messages) batch.push_back(&m);
      const BatchResult result = append_stream_batch(snap, spec, folder / batch_file_name(wall_ms(), ++batches_), batch, wall_ms(), board_, log_);
      if (result.fate == BatchFate::Failed) {
        if (!result.error.empty()) report_failure(result.error);
        return drop_quietly();
      }
      if (result.fate == BatchFate::Appended) health_.recovered();
    }
    for (const auto& m : got)
      if (m.qos > 0 && !send(mqtt::encode_puback(m.packet_id))) return false;
    return true;
  }

 private:
  // The message's JSON object with the topic added (when the source names a column for it);
  // nullopt (logged) when the payload is not a JSON object.
  std::optional<nlohmann::json> message_fields(const mqtt::Publish& m, const config::SourceSpec& spec) {
    auto fields = nlohmann::json::parse(m.payload, nullptr, false);
    if (fields.is_discarded() || !fields.is_object()) {
      log_.warn("stream_entry_refused", {{"source", source_}, {"id", m.topic}, {"error", "the message is not a JSON object"}});
      return std::nullopt;
    }
    if (!spec.mqtt->topic_column.empty()) fields[spec.mqtt->topic_column] = m.topic;
    if (fields.empty()) {
      log_.warn("stream_entry_refused", {{"source", source_}, {"id", m.topic}, {"error", "the message has no fields"}});
      return std::nullopt;
    }
    return fields;
  }

  // The next PUBLISH within `timeout_ms` (nullopt: none came); an error drops the connection.
  std::optional<std::optional<mqtt::Publish>> next_publish(int timeout_ms) {
    auto p = conn_->receive(timeout_ms);
    if (!p) {
      drop("reading from the MQTT broker failed: " + p.error().message);
      return std::nullopt;
    }
    if (!*p) return std::optional<mqtt::Publish>{};
    last_received_ms_ = steady_ms();
    switch ((*p)->type) {
      case mqtt::PacketType::Publish: {
        auto m = mqtt::decode_publish(**p);
        if (!m) {
          drop("the MQTT broker sent " + m.error().message);
          return std::nullopt;
        }
        return std::optional<mqtt::Publish>(std::move(*m));
      }
      case mqtt::PacketType::Disconnect: {
        auto d = mqtt::decode_disconnect(**p);
        drop("the MQTT broker closed the connection: " + (d ? mqtt::reason_text(d->reason) + (d->reason_string.empty() ? "" : " (" + d->reason_string + ")")
                                                           : d.error().message));
        return std::nullopt;
      }
      default:
        return std::optional<mqtt::Publish>{};  // PINGRESP, a late SUBACK: nothing to do
    }
  }

  // Pings when nothing was sent for half the keep-alive; gives the connection up when the
  // broker has said nothing for a keep-alive and a half.
  bool keep_alive() {
    const int64_t now = steady_ms();
    if (now - last_received_ms_ > keep_alive_s_ * 1500LL) return drop("the MQTT broker stopped answering");
    if (keep_alive_s_ > 0 && now - last_sent_ms_ > keep_alive_s_ * 500LL) return send(mqtt::encode_pingreq());
    return true;
  }

  bool send(const std::string& bytes) {
    if (auto sent = conn_->send(bytes); !sent) return drop("writing to the MQTT broker failed: " + sent.error().message);
    last_sent_ms_ = steady_ms();
    return true;
  }

  bool drop(const std::string& why) {
    conn_.reset();
    early_.clear();
    return report_failure(why);
  }
  // Drops the connection with the reason already reported.
  bool drop_quietly() {
    conn_.reset();
    early_.clear();
    return false;
  }

  bool report_failure(const std::string& why) { return health_.failed(why, wall_ms()); }

  std::string source_;
  api::SourceBoard& board_;
  Logger& log_;
  std::optional<mqtt::Connection> conn_;
  std::vector<mqtt::Publish> early_;  // received while subscribing
  int64_t last_sent_ms_ = 0;
  int64_t last_received_ms_ = 0;
  int keep_alive_s_ = kKeepAliveS;
  uint64_t batches_ = 0;
  StreamHealth health_;
};

}  // namespace

void StreamReaders::run_mqtt(const std::string& source) {
  MqttSourceReader reader(source, board_, log_);
  follow(source, [&](const api::Snapshot& snap, const config::SourceSpec& spec) {
    return spec.mqtt && reader.connect(*spec.mqtt) && reader.step(snap, spec);
  });
}

}  // namespace sightline::cli
