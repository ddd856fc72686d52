#include "cli/stream_reader.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/stream_batch.h"
#include "config/service_url.h"

namespace sightline::cli {
namespace fs = std::filesystem;
namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisConnection = std::unique_ptr<redisContext, ContextFree>;
using RedisReply = std::unique_ptr<redisReply, ReplyFree>;

// A stream entry id, ms-seq, ordered as Redis orders them.
struct EntryId {
  uint64_t ms = 0;
  uint64_t seq = 0;
  auto operator<=>(const EntryId&) const = default;
};

std::optional<EntryId> parse_id(std::string_view text) {
  const size_t dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  EntryId id;
  auto a = std::from_chars(text.data(), text.data() + dash, id.ms);
  auto b = std::from_chars(text.data() + dash + 1, text.data() + text.size(), id.seq);
  if (a.ec != std::errc() || a.ptr != text.data() + dash || b.ec != std::errc() || b.ptr != text.data() + text.size()) return std::nullopt;
  return id;
}

// "redis-<ms>-<seq>.parquet", zero-padded so names sort as ids do.
std::string batch_file_name(const EntryId& last) {
  char name[80];
  std::snprintf(name, sizeof name, "redis-%020llu-%020llu.parquet", static_cast<unsigned long long>(last.ms),
                static_cast<unsigned long long>(last.seq));
  return name;
}

// The newest entry id a batch file of `folder` holds: entries up to it are in the source.
std::optional<EntryId> newest_kept(const fs::path& folder) {
  std::optional<EntryId> newest;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with("redis-") || !name.ends_with(".parquet")) continue;
    std::string id = name.substr(6, name.size() - 6 - 8);
    const size_t dash = id.find('-');
    if (dash == std::string::npos) continue;
    auto parsed = parse_id(std::to_string(std::strtoull(id.substr(0, dash).c_str(), nullptr, 10)) + "-" +
                           std::to_string(std::strtoull(id.substr(dash + 1).c_str(), nullptr, 10)));
    if (parsed && (!newest || *parsed > *newest)) newest = parsed;
  }
  return newest;
}

struct Entry {
  EntryId parsed;
  StreamMessage message;  // label: the entry's id
};

RedisReply command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return RedisReply(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

std::string text_of(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR) ? std::string(r->str, r->len)
                                                                                                            : std::string();
}

// The entries of an XREADGROUP reply: [[key, [[id, [field, value, ...]], ...]]] (nil: none).
std::vector<Entry> entries_of(const redisReply* reply) {
  std::vector<Entry> out;
  if (!reply || reply->type != REDIS_REPLY_ARRAY) return out;
  for (size_t s = 0; s < reply->elements; ++s) {
    const redisReply* stream = reply->element[s];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements < 2 || stream->element[1]->type != REDIS_REPLY_ARRAY) continue;
    const redisReply* list = stream->element[1];
    for (size_t i = 0; i < list->elements; ++i) {
      const redisReply* e = list->element[i];
      if (e->type != REDIS_REPLY_ARRAY || e->elements < 1) continue;
      Entry entry;
      entry.message.label = text_of(e->element[0]);
      auto parsed = parse_id(entry.message.label);
      if (!parsed) continue;
      entry.parsed = *parsed;
      // A pending entry deleted from the stream comes back with nil fields: nothing to append.
      if (e->elements >= 2 && e->element[1]->type == REDIS_REPLY_ARRAY)
        for (size_t f = 0; f + 1 < e->element[1]->elements; f += 2)
          entry.message.fields[text_of(e->element[1]->element[f])] = text_of(e->element[1]->element[f + 1]);
      out.push_back(std::move(entry));
    }
  }
  return out;
}


}  // namespace

StreamReaders::StreamReaders(api::SnapshotHolder& holder, api::SourceBoard& board, Logger& log) : holder_(holder), board_(board), log_(log) {}

void StreamReaders::start() {
  auto snap = holder_.get();
  if (!snap) return;
  for (const auto& s : snap->project.sources)
    if (s.redis) threads_.emplace_back([this, name = s.name] { run(name); });
    else if (s.mqtt) threads_.emplace_back([this, name = s.name] { run_mqtt(name); });
}

StreamReaders::~StreamReaders() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool StreamReaders::pause(int ms) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_.load(); });
  return !stopping_;
}

namespace {

// One reader's connection and what it knows of its source.
class RedisSourceReader {
 public:
  RedisSourceReader(std::string source, api::SourceBoard& board, Logger& log)
      : source_(source), board_(board), log_(log), health_(std::move(source), board, log) {}

  // Connects (and joins the group) when not connected; false with the reason logged otherwise.
  bool connect(const config::RedisSpec& spec) {
    if (conn_) return true;
    auto address = config::parse_redis_url(spec.url);
    if (!address) return report_failure("the Redis URL is not valid: " + address.error().message);
    timeval connect_timeout{2, 0};
    RedisConnection c(redisConnectWithTimeout(address->host.c_str(), address->port, connect_timeout));
    if (!c || c->err)
      return report_failure("cannot reach Redis at " + address->host + ":" + std::to_string(address->port) + (c ? ": " + std::string(c->errstr) : ""));
    timeval io_timeout{5, 0};  // above XREADGROUP's BLOCK 1000
    redisSetTimeout(c.get(), io_timeout);
    if (!address->password.empty()) {
      auto auth = address->user.empty() ? command(c.get(), {"AUTH", address->password}) : command(c.get(), {"AUTH", address->user, address->password});
      if (!auth || auth->type == REDIS_REPLY_ERROR) return report_failure("Redis refused the credentials of the source's URL");
    }
    if (address->database != 0) {
      auto selected = command(c.get(), {"SELECT", std::to_string(address->database)});
      if (!selected || selected->type == REDIS_REPLY_ERROR) return report_failure("Redis refused database " + std::to_string(address->database));
    }
    // From the stream's first entry: what was added before the first start counts too.
    auto group = command(c.get(), {"XGROUP", "CREATE", spec.stream, spec.group, "0", "MKSTREAM"});
    if (!group || (group->type == REDIS_REPLY_ERROR && !text_of(group.get()).starts_with("BUSYGROUP")))
      return report_failure("cannot create consumer group '" + spec.group + "' of stream '" + spec.stream + "': " + text_of(group.get()));
    conn_ = std::move(c);
    pending_ = true;  // first the entries delivered before and never acknowledged
    log_.info("stream_connected", {{"source", source_}, {"stream", spec.stream}, {"group", spec.group}});
    return true;
  }

  // Reads one batch and appends it; false when the connection failed (the caller waits).
  bool step(const api::Snapshot& snap, const config::SourceSpec& spec) {
    const auto& r = *spec.redis;
    // First the entries delivered to this consumer and never acknowledged (id 0: returned at
    // once), then new ones (>), waiting up to a second for them.
    // New entries are gathered for up to half a second (or a full batch), so that a steady
    // trickle makes a few files a second rather than one per entry.
    std::vector<Entry> entries;
    const auto gather_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    for (;;) {
      const int64_t room = r.batch - static_cast<int64_t>(entries.size());
      std::vector<std::string> args = {"XREADGROUP", "GROUP", r.group, "sightline", "COUNT", std::to_string(room)};
      if (!pending_) args.insert(args.end(), {"BLOCK", entries.empty() ? "1000" : "100"});
      args.insert(args.end(), {"STREAMS", r.stream, pending_ ? "0" : ">"});
      auto reply = command(conn_.get(), args);
      if (!reply || reply->type == REDIS_REPLY_ERROR) {
        const std::string why = reply ? text_of(reply.get()) : std::string(conn_->errstr);
        conn_.reset();
        return report_failure("reading stream '" + r.stream + "' failed: " + why);
      }
      std::vector<Entry> got = entries_of(reply.get());
      if (got.empty() && pending_) pending_ = false;
      std::move(got.begin(), got.end(), std::back_inserter(entries));
      // Pending entries come all at once; new ones until the batch is full or time is up.
      if (got.empty() || static_cast<int64_t>(entries.size()) >= r.batch || std::chrono::steady_clock::now() >= gather_until ||
          pending_)
        break;
    }
    if (entries.empty()) return true;
    const fs::path folder = snap.engine->ingest_folder(source_);
    if (folder.empty()) return true;  // not loaded (a failed reload): try later
    if (!kept_scanned_) {
      kept_ = newest_kept(folder);
      kept_scanned_ = true;
    }
    const std::optional<EntryId> kept = kept_;
    std::vector<const StreamMessage*> fresh;
    for (const auto& e : entries)
      if ((!kept || e.parsed > *kept) && !e.message.fields.empty()) fresh.push_back(&e.message);
    if (!fresh.empty()) {
      if (!write(snap, spec, folder / batch_file_name(entries.back().parsed), fresh, entries.back().parsed)) {
        pending_ = true;  // reported; not acknowledged: read again (from the pending ones) after a pause
        return false;
      }
    }
    std::vector<std::string> ack = {"XACK", r.stream, r.group};
    for (const auto& e : entries) ack.push_back(e.message.label);
    auto acked = command(conn_.get(), ack);
    if (!acked || acked->type == REDIS_REPLY_ERROR) {
      conn_.reset();
      return report_failure("acknowledging entries of stream '" + r.stream + "' failed");
    }
    return true;
  }

 private:
  // Appends the entries' batch file (cli/stream_batch.h). False when it could not be appended
  // (nothing acknowledged then).
  bool write(const api::Snapshot& snap, const config::SourceSpec& spec, const fs::path& target, const std::vector<const StreamMessage*>& fresh,
             const EntryId& last) {
    const BatchResult result = append_stream_batch(snap, spec, target, fresh, wall_ms(), board_, log_);
    if (result.fate == BatchFate::Failed) {
      if (!result.error.empty()) report_failure(result.error);
      return false;
    }
    kept_ = last;  // entries up to here are in the source (or never will be)
    if (result.fate == BatchFate::Appended) health_.recovered();
    return true;
  }

  bool report_failure(const std::string& why) { return health_.failed(why, wall_ms()); }

  std::string source_;
  api::SourceBoard& board_;
  Logger& log_;
  RedisConnection conn_;
  bool pending_ = true;
  // The newest entry id a batch file holds (scanned from the folder once, then kept up to date).
  std::optional<EntryId> kept_;
  bool kept_scanned_ = false;
  StreamHealth health_;
};

}  // namespace

void StreamReaders::follow(const std::string& source, const std::function<bool(const api::Snapshot&, const config::SourceSpec&)>& step) {
  while (!stopping_) {
    auto snap = holder_.get();
    const config::SourceSpec* spec = nullptr;
    if (snap)
      for (const auto& s : snap->project.sources)
        if (s.name == source && (s.redis || s.mqtt)) spec = &s;
    if (!spec) {
      if (!pause(1000)) return;
      continue;
    }
    if (!step(*snap, *spec) && !pause(2000)) return;
  }
}

void StreamReaders::run(const std::string& source) {
  RedisSourceReader reader(source, board_, log_);
  follow(source, [&](const api::Snapshot& snap, const config::SourceSpec& spec) {
    return spec.redis && reader.connect(*spec.redis) && reader.step(snap, spec);
  });
}

}  // namespace sightline::cli
