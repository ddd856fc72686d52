// Which rollups to build for a relation: a greedy choice over the lattice of column sets, after
// Harinarayan, Rajaraman and Ullman ("Implementing Data Cubes Efficiently", SIGMOD 1996).
//
// A dashboard asks a bounded family of questions: each widget groups by its own columns, and any
// subset of the dashboard's filters (and cross-filter selections) may be active on top. Each
// question is a `Query`: the columns it needs, each at the coarsest grain that still answers
// (a day range needs days, a monthly axis months), weighted by how likely that combination is.
// A question costs the rows of the smallest rollup that covers it, or the relation's rows when
// none does. `choose_rollups` repeatedly adds the column set whose rollup saves the most rows
// read over the whole workload, within a space budget, so every combination of filters is answered from
// the smallest structure that fits in memory, not only the one lucky set a single rollup holds.
//
//   GroupCounts counts(10'000'000);
//   counts.set_column("Bezirk", Grain::Exact, 13);  ... counts.set_pair(...);
//   auto chosen = choose_rollups(workload, counts, {});
//
// Plain data and pure functions; no engine access (the build measures the counts). Thread-safe
// for concurrent reads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "query/grain.h"

namespace sightline::query {

// Columns with a grain: for a rollup, the grain each column is kept at; for a query, the
// coarsest grain of each column that still answers it.
using ColumnGrains = std::map<std::string, Grain>;

// Whether a rollup keeping `kept` holds everything `needs` asks for: every column, at its grain
// or finer. Bins are not comparable with the other grains: only Bins serves Bins.
bool rollup_covers(const ColumnGrains& kept, const ColumnGrains& needs);

struct LatticeQuery {
  ColumnGrains needs;
  double weight = 1;
  // A time column needed by the day only for a date range (not shown by the day): a rollup
  // keeping it by the month also answers, its whole months from the rollup and the days around
  // them from the rows (WidgetInput::split_by_months). Empty: no such column.
  std::string split_column;
};

// Group counts of column sets (how many rows a rollup keeping them has): measured ones as they
// are, others estimated from the single columns and the measured pairs. The estimate multiplies
// the columns' counts, divided along the strongest pairwise dependencies (a maximum spanning
// tree of each pair's shortfall from independence, as in Chow and Liu's tree approximation), so
// a zone and the district it lies in count as the zones; then it corrects for combinations the
// rows cannot all fill (n rows into D combinations fill about D(1 - e^(-n/D))).
class GroupCounts {
 public:
  explicit GroupCounts(int64_t rows) : rows_(rows) {}
  int64_t rows() const { return rows_; }
  void set_column(const std::string& column, Grain grain, int64_t count);
  void set_pair(const std::string& a, Grain ga, const std::string& b, Grain gb, int64_t count);
  void set_measured(const ColumnGrains& set, int64_t count) { measured_[set] = count; }
  bool measured(const ColumnGrains& set) const { return measured_.count(set) > 0; }
  // The group count of `set` (1 for the empty set; at most rows()).
  int64_t estimate(const ColumnGrains& set) const;

 private:
  using Level = std::pair<std::string, Grain>;
  int64_t rows_;
  std::map<Level, int64_t> columns_;
  std::map<std::pair<Level, Level>, int64_t> pairs_;
  std::map<ColumnGrains, int64_t> measured_;
};

struct LatticeOptions {
  int64_t min_reduction = 5;   // a rollup has at most rows / min_reduction rows
  size_t max_rollups = 16;     // per relation
  // Rollups that no other chosen rollup holds are made from the relation's rows (a full scan
  // each, minutes at 100M rows); the rest from a larger rollup. At most this many of the first.
  size_t max_from_rows = 8;
  double space_budget = 1.0;   // the chosen rollups together hold at most this many times the rows
  // Stop when the best remaining rollup saves less than this share of the workload's cost
  // without rollups (not worth building and keeping).
  double min_gain = 0.002;
  // For a rollup of at most `row_floor` rows that a larger chosen rollup holds (made from it, not
  // from the rows): the share of min_gain it must save.
  double small_gain_factor = 0.02;
  // Rows a month split reads from the relation (the days around the whole months); 0: splits
  // are not counted as answers.
  double split_rows = 0;
  // Reading fewer rows than this costs about the same (a query's fixed costs dominate), so a
  // rollup is not worth adding only to read 200 rows instead of 2,000.
  double row_floor = 20'000;
};

struct ChosenRollup {
  ColumnGrains columns;
  int64_t estimated_rows = 0;
};

// The rollups to build for `workload`, most useful first. Candidates are the queries' own column
// sets (a question with more filters active is a superset that also answers the smaller ones),
// and for a question with a split column the same set by the month.
std::vector<ChosenRollup> choose_rollups(const std::vector<LatticeQuery>& workload, const GroupCounts& counts,
                                         const LatticeOptions& options);

// The share of the workload's weight answered by `chosen`, and its expected rows read per query
// (the relation's rows where none answers): for the build's log line and for tests.
struct LatticeCoverage {
  double answered = 0;
  double rows_per_query = 0;
};
LatticeCoverage lattice_coverage(const std::vector<LatticeQuery>& workload, const std::vector<ChosenRollup>& chosen, int64_t rows,
                                 double split_rows = 0);

// What a rollup keeping `kept` costs to answer `q` in rows read (its rows, plus `split_rows` when
// it answers by months and days), or nullopt when it cannot answer.
std::optional<double> answer_cost(const ColumnGrains& kept, double kept_rows, const LatticeQuery& q, double split_rows);

}  // namespace sightline::query
