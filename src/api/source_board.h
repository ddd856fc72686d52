// What the server knows of each source's freshness, shared by the API (which reports it and
// takes refresh requests) and the refresher (cli/refresher.h, which does the work):
//
//   board.version("orders", hash, [&] { return engine.freshness("orders").as_of_ms; });
//   // {number 3, hash, as_of}: the number goes up by one whenever the data's hash changes
//   board.request("orders");            // someone asked for a refresh: the refresher wakes
//   board.finished("orders", RefreshOutcome::Failed, now, "cannot read data/orders/x.parquet");
//
// Data versions. A relation's version is the engine's content hash of its data (recipe + files,
// equal across restarts), the time its data is as of, and a number that counts the versions this
// server has served since it started (1 for the first), so "newer" is a comparison of numbers
// while the hash says "the same data" across servers and restarts.
//
// Subscriptions: whoever wants to hear of new data (open dashboards' event streams,
// api/events_api.cpp) subscribes; version() tells every subscriber when it gives a relation a new
// number (never for a relation's first version). The refresher asks for every source's version
// about once a second (cli/refresher.h), so subscribers hear of new data within about a second
// of a refresh's swap, or, for sources read at query time, of a change to their files.
//
//   auto sub = board.subscribe([](const std::string& relation, const DataVersion& v) { ... });
//   ...
//   sub.reset();  // or its destruction: from here on, the listener is not called
//
// Thread-safe: every method takes the board's lock (none calls out while holding it, except the
// as_of function given to version(), which must not call back into the board). Listeners are
// called outside the lock, on the thread whose version() call made the new number.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sightline::api {

struct DataVersion {
  int64_t number = 0;
  uint64_t hash = 0;
  int64_t as_of_ms = 0;  // milliseconds since 1970
  // "<number>-<hash as 16 hex digits>": the X-Sightline-Data-Version header.
  std::string token() const;
};

// An instant (milliseconds since 1970) as RFC 3339 in UTC: "2026-12-07T01:22:02.393Z".
std::string utc_time_text(int64_t ms);

enum class RefreshOutcome { Refreshed, Unchanged, Failed };
const char* refresh_outcome_name(RefreshOutcome outcome);

// How a source's refreshes went, as the API reports it.
struct RefreshStatus {
  std::string source;
  int64_t last_check_ms = 0;    // 0: not checked since the server started
  std::optional<RefreshOutcome> last_outcome;
  int64_t last_success_ms = 0;  // the last check that did not fail
  std::string last_error;       // why the last check failed ("" when it did not): the author's diagnostics,
                                // paths relative to the project; may quote a value of the data, so the API
                                // shows it only to those who may refresh the source
  int64_t failing_since_ms = 0; // the first of the failures in a row (0: not failing)
  std::optional<int64_t> next_check_ms;  // the next scheduled check, if any
  bool running = false;
  bool requested = false;       // someone asked; the refresher has not taken it yet
  int64_t refreshed = 0, unchanged = 0, failed = 0;  // checks since the server started, by outcome
};

class SourceBoard {
 public:
  // Hears of a relation's new version. Called outside the board's lock, so it may call the board
  // (version() included; a new number made from there is told to every listener, this one too,
  // on the same thread before the outer call returns); it should return quickly (the refresher's
  // thread calls it). Exceptions it throws are ignored. Calls from different threads may overlap
  // (it must be thread-safe) and arrive out of order: compare numbers, not arrival.
  using Listener = std::function<void(const std::string& relation, const DataVersion& version)>;
  struct Listeners;  // the subscribers, shared with their handles (so a handle may outlive the board)

  // A subscription; its destruction (or reset()) ends it. Move-only.
  //
  // The guarantee: once reset() (or the destructor) returns, the listener is not running on any
  // other thread and will never be called again. How: the listener is marked removed under the
  // subscribers' lock, so no call starts after that; each call registers its thread under the
  // same lock before it starts and unregisters after it returns; reset() waits (condition
  // variable) until no other thread is inside the listener. A listener may end its own
  // subscription from inside a call: reset() does not wait for the calling thread itself, and
  // the listener is not called again once that call returns.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& other) noexcept;
    Subscription& operator=(Subscription&& other) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { reset(); }
    void reset();
    explicit operator bool() const { return listeners_ != nullptr; }

   private:
    friend class SourceBoard;
    Subscription(std::shared_ptr<Listeners> listeners, uint64_t id) : listeners_(std::move(listeners)), id_(id) {}
    std::shared_ptr<Listeners> listeners_;
    uint64_t id_ = 0;
  };

  SourceBoard();
  ~SourceBoard();

  // The version of `relation` holding data of `hash`. A hash the board has not seen for the
  // relation (or a relation it does not know) gets the next number and its time from `as_of()`;
  // a relation's next number after its first is told to the subscribers (outside the lock).
  DataVersion version(const std::string& relation, uint64_t hash, const std::function<int64_t()>& as_of);
  // Calls `listener` for every new number version() gives a relation from now on, until the
  // returned subscription is reset or destroyed.
  [[nodiscard]] Subscription subscribe(Listener listener);
  // Open subscriptions (for tests and metrics).
  size_t subscribers() const;
  // The last version version() gave for `relation`.
  std::optional<DataVersion> last_version(const std::string& relation) const;

  // Someone asked for `source` to be refreshed: marks it requested and wakes the refresher.
  void request(const std::string& source);
  // The sources asked for since the last call (each once), now marked running.
  std::vector<std::string> take_requests();
  // Called by the refresher when it starts checking a source on its own schedule.
  void started(const std::string& source);
  void finished(const std::string& source, RefreshOutcome outcome, int64_t now_ms, const std::string& error = {});
  void set_next_check(const std::string& source, std::optional<int64_t> next_ms);
  // Wakes the refresher when a request arrives (set once, before serving).
  void on_request(std::function<void()> wake);

  RefreshStatus status(const std::string& source) const;
  // The sources whose last check failed.
  std::vector<std::string> failing() const;

 private:
  RefreshStatus& slot(const std::string& source);  // with the lock held
  void notify(const std::string& relation, const DataVersion& version);  // without the lock
  std::shared_ptr<Listeners> listeners_;
  mutable std::mutex mutex_;
  std::map<std::string, DataVersion> versions_;
  std::map<std::string, RefreshStatus> refreshes_;
  std::set<std::string> requested_;
  std::function<void()> wake_;
};

}  // namespace sightline::api
