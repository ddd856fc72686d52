// Live updates (docs/api.md): GET /api/v1/events?dashboard=ID, a stream of Server-Sent Events
// telling an open dashboard that its data changed, so the page asks again by itself.
//
//   retry: 3000
//   event: hello
//   data: {"relation":"orders","version":"1-9f2c1a7be04d1c22","as_of":"2026-12-07T06:00:03.118Z"}
//
//   event: data_changed
//   data: {"relation":"orders","version":"2-0b5e…","as_of":"2026-12-07T06:10:00.412Z"}
//
// `hello` carries the version of the dashboard's relation when the stream opens; `data_changed`
// a newer one, whenever the relation gets one (SourceBoard subscriptions: the refresher looks at
// every source about once a second). A dashboard over a model hears whenever any source gets a
// new version, with the model's version then (so a view over a changed source, or a model read
// again by a refresh). Numbers only grow within a stream. The server adds a comment line every
// 15 s (server/server.h: event_heartbeat) so proxies keep the connection open.
//
// Who may listen: the same sign-in as every API call; the dashboard must be visible to the caller
// (else 404, as for GET /api/v1/dashboards/{id}); a cross-site Origin is refused (403) even though
// this is a GET, as browsers send Origin with a cross-origin EventSource and a session cookie would
// go with it. Events carry versions and times only: never rows, counts or error texts.
//
// Limits: kMaxEventStreamsPerUser open streams per caller (the signed-in identity; with auth mode
// none, per client address), 429 beyond; kMaxEventStreams in all, 503 beyond. A stream holds a
// socket as long as the page is open, so without them a client could take every file descriptor.
#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include <nlohmann/json.hpp>

#include "api/api.h"

namespace sightline::api {
namespace {

using nlohmann::json;

std::string event_text(const char* name, const std::string& relation, const DataVersion& v) {
  const int64_t ms = v.as_of_ms;
  nlohmann::ordered_json data = {{"relation", relation}, {"version", v.token()}, {"as_of", ms > 0 ? nlohmann::ordered_json(utc_time_text(ms)) : nullptr}};
  return std::string("event: ") + name + "\ndata: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

DataVersion current_version(SourceBoard& board, const engine::Engine& engine, const std::string& relation) {
  return board.version(relation, engine.data_versions().of(relation), [&] { return engine.freshness(relation).as_of_ms; });
}

bool is_source(const config::Project& project, const std::string& relation) {
  return std::any_of(project.sources.begin(), project.sources.end(), [&](const auto& s) { return s.name == relation; });
}

// What one stream tells, in order: the hello first, then only ever larger numbers. Chunks made
// before the server starts the stream wait in `pending`. Thread-safe; push() is called under the
// lock, so chunks reach the connection in the order they were decided (push only queues).
class Feed {
 public:
  explicit Feed(std::string relation) : relation_(std::move(relation)) {}

  void hello(const DataVersion& v) {
    std::lock_guard lock(mutex_);
    last_ = std::max(last_, v.number);
    send("retry: 3000\n" + event_text("hello", relation_, v));
  }
  void changed(const DataVersion& v) {
    std::lock_guard lock(mutex_);
    if (v.number <= last_) return;  // told already (listeners on two threads may overlap)
    last_ = v.number;
    send(event_text("data_changed", relation_, v));
  }
  void attach(EventStream::Push push) {
    std::lock_guard lock(mutex_);
    push_ = std::move(push);
    if (!pending_.empty()) push_(std::exchange(pending_, {}));
  }
  const std::string& relation() const { return relation_; }

 private:
  void send(std::string chunk) {
    if (push_)
      push_(std::move(chunk));
    else
      pending_ += chunk;
  }
  const std::string relation_;
  std::mutex mutex_;
  EventStream::Push push_;
  std::string pending_;
  int64_t last_ = 0;
};

}  // namespace

// Open streams per caller and in all.
struct Api::StreamCounts {
  std::mutex mutex;
  std::map<std::string, size_t> per_user;
  size_t total = 0;
  size_t max_per_user = kMaxEventStreamsPerUser;
  size_t max_total = kMaxEventStreams;

  // A place in the counts for `who`, given back when the returned handle is destroyed.
  static Result<std::shared_ptr<void>> take(const std::shared_ptr<StreamCounts>& self, const std::string& who) {
    std::lock_guard lock(self->mutex);
    if (self->total >= self->max_total)
      return fail(ErrorKind::Unavailable, "the server has too many open event streams", "the page still works; it shows new data when it asks again");
    size_t& mine = self->per_user[who];
    if (mine >= self->max_per_user) {
      if (mine == 0) self->per_user.erase(who);
      return fail(ErrorKind::TooManyRequests,
                  "too many open event streams for this user (limit " + std::to_string(self->max_per_user) + ")",
                  "close dashboards open in other tabs");
    }
    ++mine;
    ++self->total;
    return std::shared_ptr<void>(new int(0), [self, who](int* p) {
      delete p;
      std::lock_guard lock(self->mutex);
      --self->total;
      if (auto it = self->per_user.find(who); it != self->per_user.end() && --it->second == 0) self->per_user.erase(it);
    });
  }
};

namespace {

// The answer's stream: what the server starts once the header is out.
class DashboardEvents final : public EventStream {
 public:
  struct Held {
    SourceBoard::Subscription subscription;  // destroyed first: no more calls into the feed
    std::shared_ptr<void> slot;  // the stream's place in the counts
  };
  DashboardEvents(std::shared_ptr<Feed> feed, std::unique_ptr<Held> held) : feed_(std::move(feed)), held_(std::move(held)) {}

  Subscription start(Push push) override {
    feed_->attach(std::move(push));
    return std::shared_ptr<Held>(std::move(held_));
  }

 private:
  std::shared_ptr<Feed> feed_;
  std::unique_ptr<Held> held_;  // until start(); if it never comes, with this object
};

}  // namespace

void Api::set_event_stream_limits(size_t per_user, size_t total) {
  std::lock_guard lock(streams_->mutex);
  streams_->max_per_user = per_user;
  streams_->max_total = total;
}

Result<HttpResponse> Api::events_route(const HttpRequest& req, const std::string& dashboard, const Snapshot& snap, const auth::User& user) {
  if (req.method != "GET") return method_not_allowed(req, "GET");
  // A page of another site may not listen with the caller's cookie (check_csrf does this for
  // methods other than GET): the Origin must be this server's (as the Host names it).
  if (std::string origin = req.header("origin"); !origin.empty()) {
    const std::string host = req.header("host");
    if (host.empty() || (origin != "http://" + host && origin != "https://" + host))
      return fail(ErrorKind::Forbidden, "cross-site request refused (Origin " + origin.substr(0, 100) + ")");
  }
  if (dashboard.empty()) return fail(ErrorKind::InvalidInput, "the dashboard parameter is missing", "GET /api/v1/events?dashboard=<id>");
  const auto& project = snap.project;
  const config::DashboardSpec* dash = project.find_dashboard(dashboard);
  // A dashboard the caller may not see does not exist for them: the same 404 as a wrong id.
  if (!dash || !auth::can_see(dash->roles, user)) return fail(ErrorKind::NotFound, "no dashboard '" + dashboard.substr(0, 64) + "'");

  const std::string who = project.auth.enabled() ? "user\n" + user.identity.key() : "address\n" + client_address(req, project.auth);
  auto slot = StreamCounts::take(streams_, who);
  if (!slot) return fail(slot.error());

  auto feed = std::make_shared<Feed>(dash->source);
  auto held = std::make_unique<DashboardEvents::Held>();
  held->slot = std::move(*slot);
  // Subscribed before the hello is made, so no version falls between them (the feed sends only
  // numbers above the hello's).
  const bool over_model = !is_source(project, dash->source);
  const SnapshotHolder& holder = snapshots_;
  SourceBoard& board = sources_;
  held->subscription = sources_.subscribe([feed, over_model, &holder, &board](const std::string& relation, const DataVersion& v) {
    if (relation == feed->relation()) return feed->changed(v);
    if (!over_model) return;
    // A source changed under a model: the model's version now (a new number when its data is
    // other data; this very listener hears of that number too, and the feed tells it once).
    auto now = holder.get();
    if (!now || !now->engine || !now->engine->relation(feed->relation())) return;
    feed->changed(current_version(board, *now->engine, feed->relation()));
  });
  feed->hello(current_version(sources_, *snap.engine, dash->source));

  HttpResponse r;
  r.status = 200;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("X-Accel-Buffering", "no");
  r.events = std::make_shared<DashboardEvents>(std::move(feed), std::move(held));
  return r;
}

std::shared_ptr<Api::StreamCounts> Api::make_stream_counts() {
  return std::make_shared<StreamCounts>();
}

}  // namespace sightline::api
