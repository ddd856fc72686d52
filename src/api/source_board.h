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
// Thread-safe: every method takes the board's lock (none calls out while holding it, except the
// as_of function given to version(), which must not call back into the board).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
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
  // The version of `relation` holding data of `hash`. A hash the board has not seen for the
  // relation (or a relation it does not know) gets the next number and its time from `as_of()`.
  DataVersion version(const std::string& relation, uint64_t hash, const std::function<int64_t()>& as_of);
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
  mutable std::mutex mutex_;
  std::map<std::string, DataVersion> versions_;
  std::map<std::string, RefreshStatus> refreshes_;
  std::set<std::string> requested_;
  std::function<void()> wake_;
};

}  // namespace sightline::api
