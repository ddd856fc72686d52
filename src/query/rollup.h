// Automatic pre-aggregation. For each dashboard, Sightline builds a rollup table of its source:
// grouped by the low-cardinality columns its widgets, filters and cross-filters use (dates at
// day grain), holding sums, counts, minima and maxima of the measured columns. A widget query
// whose group-by columns, active predicates and measures all fit a rollup is answered from it
// (often 10-100x fewer rows); anything else reads the source. Results are identical either way:
// measures are rewritten (sum -> sum of sums, count -> sum of counts, avg -> sums / counts) and
// cast to the type the source query would return.
//
//   auto rollups = Rollups::build(project, engine, log);
//   if (auto hit = rollups->match("orders", needed_columns, measures)) ...
//
// Immutable after build(); thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/project.h"
#include "core/log.h"
#include "engine/engine.h"
#include "query/grain.h"

namespace sightline::query {

// One aggregate call in a measure: sum(x), count(*), count(x), min(x), max(x), avg(x), and
// count(DISTINCT x) (function "count_distinct", kept as per-group bitmaps of value codes).
struct AggregateCall {
  std::string function;  // lower-case
  std::string column;    // "" for count(*)
  bool operator<(const AggregateCall& o) const { return std::tie(function, column) < std::tie(o.function, o.column); }
  bool operator==(const AggregateCall& o) const = default;
};

// The aggregate calls of a measure expression, or nullopt when the expression has anything a
// rollup cannot answer exactly (median, a bare column, a subquery, an expression inside an aggregate, ...).
std::optional<std::vector<AggregateCall>> decompose_measure(std::string_view expr);
// The one aggregate call a measure is made of (`count(*)`, `sum("fare (€)")`), or nullopt when
// it is anything more (arithmetic, several calls, a wrapper such as coalesce).
std::optional<AggregateCall> single_aggregate(std::string_view expr);

struct TopValues;  // query/top_values.h

struct Rollup {
  std::string table;     // the rollup's table name in the engine
  std::string relation;  // the source/model it summarizes
  std::set<std::string> columns;
  // Date and time columns kept coarser than their values (absent: as they are): timestamps at the
  // start of their hour or day, dates and timestamps at the start of their month; truncated in
  // the project's time zone and kept in the column's own type.
  std::map<std::string, Grain> grains;
  Grain grain_of(const std::string& column) const {
    auto it = grains.find(column);
    return it == grains.end() ? Grain::Exact : it->second;
  }
  std::set<AggregateCall> aggregates;
  std::map<std::string, std::string> measure_types;  // measure expression -> its SQL type over the source
  int64_t rows = 0;
  int64_t source_rows = 0;

  // The measure rewritten over this rollup, or nullopt when it needs an aggregate not stored.
  std::optional<std::string> rewrite(std::string_view expr) const;
  // A column of `rel` as a rollup keeps it at grain `g`: as it is, truncated in its own type (in
  // the project's time zone), or by its bin key.
  static std::string key_sql(const engine::Relation& rel, const std::string& column, Grain g);
  // `rows` (a table name or a parenthesized SELECT of a relation's rows) with the code of each
  // column counted distinct (column "__code__<column>", from `code_tables`), as a FROM item
  // named `alias`.
  static std::string rows_with_codes_sql(const std::string& rows, const std::string& alias,
                                         const std::map<std::string, std::string>& code_tables);
  // The (quoted) column of this rollup's table that stores `call` for each group.
  static std::string stored_column(const AggregateCall& call);
  // The aggregate that computes what `call` stores, over the rows (with their value codes, for
  // count_distinct: the column "__code__<column>" from `code_tables`).
  static std::string aggregate_sql(const AggregateCall& call);
  // The aggregate that computes what `call` stores from the stored values of a finer rollup
  // (sums and counts summed, extremes of extremes, unions of distinct-value bitmaps).
  static std::string reaggregate_sql(const AggregateCall& call);
  // For each column counted distinct: the table of its values' codes (columns v, code).
  std::map<std::string, std::string> code_tables;
};

// How far a build has come, for /readyz and the UI while it runs. Written by the build, read
// by anyone: thread-safe.
struct BuildProgress {
  std::atomic<int> dashboards{0};       // dashboards whose rollups are planned
  std::atomic<int> dashboards_done{0};  // of them, those finished
  std::atomic<int> built{0};            // rollup tables made so far
};

struct RollupOptions {
  int64_t min_source_rows = 100'000;  // smaller sources are fast enough as they are
  int64_t min_reduction = 5;          // a rollup must be at least this many times smaller than its source
  int64_t max_cardinality = 10'000;   // a column with more distinct values is not rolled up
  size_t max_rollups = 16;            // per relation
  double space_budget = 0.6;          // the rollups of a relation hold at most this many times its rows
  int64_t sample_rows = 200'000;      // rows of a relation's sample (a quarter of a relation less than twice as large)
  BuildProgress* progress = nullptr;  // optional: updated as the build goes; must outlive it
};

class Rollups {
 public:
  // Builds the rollups the project's dashboards can use. Failures only mean fewer rollups (they
  // are logged), never a failed load. When `previous` was built on the same engine for the same
  // columns and measures, it is returned as it is (a dashboard title edit costs nothing).
  static std::shared_ptr<const Rollups> build(const config::Project& project, std::shared_ptr<const engine::Engine> engine, Logger& log,
                                              std::shared_ptr<const Rollups> previous = nullptr, const RollupOptions& options = {});
  // Rollups over data that only grew since `previous` was built: for each relation it describes
  // whose rows were only appended to since (engine::Engine::appended_since), every table is made
  // again from its previous contents and the new rows alone, never the old rows: rollups are
  // regrouped with the new rows' groups, codes are given to new values, value counts added, the
  // heads of top-N columns take the new rows of their values and raise their bounds by what the
  // new rows add to any other value, samples are drawn again and unique columns checked again.
  // Answers equal those of a build over all rows. Returns `previous` when nothing changed, and
  // null when anything else changed (a relation whose rows went or were replaced, a model over
  // an appended source, a restart since) or a step fails: build() then.
  // Null also when `previous` was built on another engine than `engine`.
  static std::shared_ptr<const Rollups> extend(const std::shared_ptr<const Rollups>& previous, const std::shared_ptr<const engine::Engine>& engine,
                                               Logger& log, const RollupOptions& options = {});
  static std::shared_ptr<const Rollups> none() { return std::make_shared<const Rollups>(); }
  Rollups() = default;
  Rollups(const Rollups&) = delete;
  Rollups& operator=(const Rollups&) = delete;
  // Lets go of its tables: each is dropped unless another build uses it or the engine's state file
  // keeps it (a restart with the same data and dashboards reuses them; see Engine::store_rollups).
  ~Rollups();

  // The smallest rollup of `relation` holding every column of `needs` at its grain or finer and
  // every aggregate of `measures`, or null. `needs` maps a column to the coarsest grain that
  // still answers (Exact: its values as they are).
  const Rollup* match(const std::string& relation, const std::map<std::string, Grain>& needs,
                      const std::vector<std::string>& measures) const;
  // As match(), but the smallest such rollup with at least `min_rows` groups (else the largest):
  // for bounds that are only tight over many groups (a table page's sort value).
  const Rollup* match_with_groups(const std::string& relation, const std::map<std::string, Grain>& needs,
                                  const std::vector<std::string>& measures, int64_t min_rows) const;
  const std::vector<Rollup>& all() const { return rollups_; }

  // The relations summarized here whose data has changed since (their rollups and value tables
  // no longer describe it), given the versions `now` (Engine::data_versions()).
  std::set<std::string> stale(const engine::DataVersions& now) const;

  // Rows of `relation` when it was summarized (0: no rollup of it).
  int64_t relation_rows(const std::string& relation) const;
  // A table of the distinct non-null values of relation.column (column "v", and "n", the rows
  // holding each), when one was built
  // (for text and select filters), or null. Searching it is far cheaper than the source.
  const std::string* value_table(const std::string& relation, const std::string& column) const;
  // A uniform random sample of `relation`'s rows (every column; RollupOptions::sample_rows of
  // them, or a quarter of a smaller relation) for scatter plots and the pivots of deep table pages, when one was
  // made, or null. The rows of the sample that a filter state keeps are a uniform sample of the
  // rows it keeps.
  const std::string* sample_table(const std::string& relation) const;
  // Whether scatter plots sample the sample: only when it is a small part of its relation (at
  // most half), so that a scatter plot of a smaller relation samples its rows directly.
  bool sample_serves_scatter(const std::string& relation) const { return scatter_samples_.count(relation) > 0; }
  // The columns of `relation`'s ungrouped tables that hold a different, non-NULL value in every
  // row (checked when the rollups were built): a table page's tie-breakers end at one of them.
  const std::set<std::string>& unique_columns(const std::string& relation) const;
  // The head of relation.column's most frequent values (query/top_values.h), when one was built.
  const TopValues* top_values(const std::string& relation, const std::string& column) const;
  // Whether relation.column has an index (an ART index on a loaded table): made for the text
  // columns of many values (beyond max_cardinality, so no rollup holds them) that text, select
  // and multiselect filters pick from, so that the rows of a few values are found without a scan.
  bool indexed(const std::string& relation, const std::string& column) const;

 private:
  // The state file's copy (rollup_store.cpp): per relation summarized, the key its rollups were
  // made under and every table with what it holds, as JSON.
  std::string describe() const;
  // The parts of a stored description: relation -> {key, the part as JSON}.
  static std::map<std::string, std::pair<std::string, std::string>> stored_parts(const std::string& description);
  // Takes a stored part's tables as this build's, when every one of them is still there.
  bool adopt(const std::string& part, const engine::Engine& engine);
  // Every table these rollups read.
  std::vector<std::string> tables() const;
  // Makes (or finds) the indexes indexed() tells of, for the filters of `project`'s dashboards.
  void index_filter_columns(const config::Project& project, const engine::Engine& engine, Logger& log, const RollupOptions& options);
  // Counts its tables as used (Engine::claim_tables) and keeps their description in the engine's
  // state file, when it has one.
  void claim_and_keep(Logger& log);

  std::vector<Rollup> rollups_;
  std::map<std::pair<std::string, std::string>, std::string> value_tables_;
  std::vector<std::string> code_tables_;
  std::map<std::string, std::string> sample_tables_;  // relation -> table
  std::set<std::string> scatter_samples_;             // relations whose sample scatter plots sample
  std::map<std::string, std::set<std::string>> indexed_;  // relation -> its indexed columns
  std::map<std::string, std::set<std::string>> unique_columns_;  // relation -> see unique_columns()
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const TopValues>> top_values_;  // (relation, column)
  std::shared_ptr<const engine::Engine> engine_;
  std::string signature_;
  // Per relation summarized: its plan, the settings, its data's version and bins; what the state
  // file keeps its tables under.
  std::map<std::string, std::string> part_keys_;
  // What each relation's part key is made from, around its data's version (see part_key).
  std::map<std::string, std::pair<std::string, std::string>> part_key_texts_;
  // The key a relation's rollups are kept under in the state file at data version `version`.
  std::string part_key(const std::string& relation, uint64_t version) const;
  bool claimed_ = false;  // its tables are counted as used (Engine::claim_tables)
  std::string build_id_;
  engine::DataVersions built_on_;  // taken before the first read, so a change during the build counts as stale
};

}  // namespace sightline::query
