// The choice of rollups over the lattice of column sets (query/rollup_lattice.h): coverage,
// group-count estimates against exact counts of real data in DuckDB, and the greedy choice.
#include "query/rollup_lattice.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "duckdb_fixture.h"
#include "engine/result_rows.h"

namespace sightline::query {
namespace {

TEST(RollupLattice, CoversColumnsAtTheirGrainOrFiner) {
  const ColumnGrains day_region = {{"day", Grain::Day}, {"region", Grain::Exact}};
  EXPECT_TRUE(rollup_covers(day_region, {}));
  EXPECT_TRUE(rollup_covers(day_region, {{"region", Grain::Exact}}));
  EXPECT_TRUE(rollup_covers(day_region, {{"day", Grain::Month}, {"region", Grain::Exact}}));
  EXPECT_FALSE(rollup_covers(day_region, {{"day", Grain::Hour}}));
  EXPECT_FALSE(rollup_covers(day_region, {{"channel", Grain::Exact}}));
  // A number kept by its bins answers bins, not exact values; kept exact, it answers both.
  EXPECT_TRUE(rollup_covers({{"fare", Grain::Bins}}, {{"fare", Grain::Bins}}));
  EXPECT_FALSE(rollup_covers({{"fare", Grain::Bins}}, {{"fare", Grain::Exact}}));
  EXPECT_TRUE(rollup_covers({{"fare", Grain::Exact}}, {{"fare", Grain::Bins}}));
}

TEST(RollupLattice, AMonthRollupAnswersADayRangeWithTheDaysAroundItsMonthsReadFromTheRows) {
  const LatticeQuery q{{{"t", Grain::Day}, {"zone", Grain::Exact}}, 1, "t"};
  const ColumnGrains monthly = {{"t", Grain::Month}, {"zone", Grain::Exact}};
  EXPECT_EQ(answer_cost(monthly, 500, q, 2000), 2500);
  EXPECT_FALSE(answer_cost(monthly, 500, q, 0).has_value()) << "splits not counted";
  EXPECT_FALSE(answer_cost(monthly, 500, LatticeQuery{q.needs, 1, ""}, 2000).has_value()) << "shown by the day: no split";
  EXPECT_EQ(answer_cost({{"t", Grain::Day}, {"zone", Grain::Exact}}, 9000, q, 2000), 9000);
}

// Exact group counts of column sets over generated data with a dependency (zone -> district),
// independent columns and a sparse combination, against the estimates from single columns and
// pairs measured in DuckDB with approx_count_distinct, as the build does.
class RollupLatticeData : public testing::DuckDBTest {
 protected:
  int64_t scalar(const std::string& sql) {
    auto rows = engine::rows_of(query(sql));
    EXPECT_TRUE(rows.has_value());
    return rows ? engine::as_count((*rows)[0][0]).value_or(-1) : -1;
  }
};

TEST_F(RollupLatticeData, EstimatesFollowTheDataWithinAFactorOfTwo) {
  query(
      "CREATE TABLE t AS SELECT i, i % 300 AS zone, (i % 300) // 25 AS district, (i * 7919) % 5 AS payment, "
      "(i * 104729) % 1500 AS day, hash(i) % 40 AS bin FROM range(400000) r(i)");
  const int64_t rows = 400000;
  GroupCounts counts(rows);
  const std::vector<std::string> columns = {"zone", "district", "payment", "day", "bin"};
  for (const auto& c : columns) counts.set_column(c, Grain::Exact, scalar("SELECT approx_count_distinct(" + c + ") FROM t"));
  for (size_t i = 0; i < columns.size(); ++i)
    for (size_t j = i + 1; j < columns.size(); ++j)
      counts.set_pair(columns[i], Grain::Exact, columns[j], Grain::Exact,
                      scalar("SELECT approx_count_distinct(hash(" + columns[i] + ", " + columns[j] + ")) FROM t"));
  auto exact = [&](const std::vector<std::string>& set) {
    std::string list;
    for (const auto& c : set) list += (list.empty() ? "" : ", ") + c;
    return scalar("SELECT count(*) FROM (SELECT DISTINCT " + list + " FROM t)");
  };
  for (const std::vector<std::string>& set : std::vector<std::vector<std::string>>{{"zone", "district"},
                                                                                   {"zone", "district", "payment"},
                                                                                   {"district", "payment", "bin"},
                                                                                   {"zone", "payment", "bin"},
                                                                                   {"day", "district"},
                                                                                   {"day", "zone", "payment"},
                                                                                   {"zone", "district", "payment", "bin"}}) {
    ColumnGrains grains;
    for (const auto& c : set) grains[c] = Grain::Exact;
    const double estimate = static_cast<double>(counts.estimate(grains)), truth = static_cast<double>(exact(set));
    EXPECT_LT(std::abs(std::log(estimate / truth)), std::log(2.0)) << ::testing::PrintToString(set) << ": estimated " << estimate
                                                                   << ", exactly " << truth;
  }
  // Measured sets are taken as they are, and bound their supersets.
  counts.set_measured({{"zone", Grain::Exact}, {"payment", Grain::Exact}}, 1500);
  EXPECT_EQ(counts.estimate({{"zone", Grain::Exact}, {"payment", Grain::Exact}}), 1500);
  EXPECT_LE(counts.estimate({{"zone", Grain::Exact}, {"payment", Grain::Exact}, {"district", Grain::Exact}}), 1500 * 12);
  EXPECT_EQ(counts.estimate({}), 1);
}

// A dashboard-like workload: three widgets (a KPI, a chart by zone, a daily line) under any
// subset of three filters (a date range, a zone, a district); sizes of a synthetic relation.
std::vector<LatticeQuery> workload() {
  std::vector<LatticeQuery> out;
  const std::vector<ColumnGrains> widgets = {{}, {{"zone", Grain::Exact}}, {{"t", Grain::Day}}};
  for (const auto& base : widgets)
    for (int mask = 0; mask < 8; ++mask) {
      LatticeQuery q{base, 1, ""};
      double p = 1;
      for (int f = 0; f < 3; ++f) p *= (mask & (1 << f)) ? 0.3 : 0.7;
      q.weight = p;
      if (mask & 1) {
        q.needs["t"] = Grain::Day;
        if (!base.count("t")) q.split_column = "t";
      }
      if (mask & 2) q.needs["zone"] = Grain::Exact;
      if (mask & 4) q.needs["district"] = Grain::Exact;
      out.push_back(q);
    }
  return out;
}

GroupCounts synthetic_counts() {
  GroupCounts counts(10'000'000);
  counts.set_column("t", Grain::Day, 1461);
  counts.set_column("t", Grain::Month, 48);
  counts.set_column("zone", Grain::Exact, 300);
  counts.set_column("district", Grain::Exact, 12);
  counts.set_pair("zone", Grain::Exact, "district", Grain::Exact, 300);  // each zone lies in one district
  return counts;
}

TEST(RollupLattice, TheChoiceAnswersEveryCombinationOfFiltersFromSmallRollups) {
  const auto queries = workload();
  const auto counts = synthetic_counts();
  LatticeOptions options;
  options.split_rows = 10'000'000 * 30.0 / 1461;
  const auto chosen = choose_rollups(queries, counts, options);
  ASSERT_FALSE(chosen.empty());
  EXPECT_LE(chosen.size(), options.max_rollups);
  double space = 0;
  for (const auto& r : chosen) {
    EXPECT_LE(r.estimated_rows * options.min_reduction, 10'000'000) << "too large to pay off";
    space += static_cast<double>(r.estimated_rows);
  }
  EXPECT_LE(space, options.space_budget * 10'000'000);
  // Every question is answered from a rollup: day x zone (x district, which the zone implies)
  // is ~440k rows, small enough, and answers the widest question.
  const auto coverage = lattice_coverage(queries, chosen, 10'000'000, options.split_rows);
  EXPECT_DOUBLE_EQ(coverage.answered, 1.0);
  // ... and most from far fewer rows than the widest rollup holds: without a date range, the KPI
  // and the chart by zone read a rollup without days (months at most: reading fewer rows than
  // the floor is not worth another rollup).
  EXPECT_LT(coverage.rows_per_query, 200'000);
  for (const auto& q : queries) {
    if (q.needs.count("t")) continue;
    double best = 1e18;
    for (const auto& r : chosen)
      if (rollup_covers(r.columns, q.needs)) best = std::min(best, static_cast<double>(r.estimated_rows));
    EXPECT_LE(best, options.row_floor) << q.needs.size() << " columns";
  }
}

TEST(RollupLattice, ATightBudgetPrefersMonthsAndSmallSetsAndStaysWithinIt) {
  const auto queries = workload();
  const auto counts = synthetic_counts();
  LatticeOptions options;
  options.split_rows = 10'000'000 * 30.0 / 1461;
  options.space_budget = 0.01;  // 100k rows: no day x zone rollup fits
  const auto chosen = choose_rollups(queries, counts, options);
  double space = 0;
  bool monthly_zone = false;
  for (const auto& r : chosen) {
    space += static_cast<double>(r.estimated_rows);
    if (r.columns.count("zone") && r.columns.count("t") && r.columns.at("t") == Grain::Month) monthly_zone = true;
  }
  EXPECT_LE(space, 100'000);
  EXPECT_TRUE(monthly_zone) << "a zone under a date range is answered by months and days";
  // Only the daily line under a zone filter (days x zones: ~440k groups) is left to the rows.
  for (const auto& q : queries) {
    bool answered = false;
    for (const auto& r : chosen) answered = answered || answer_cost(r.columns, 1, q, options.split_rows).has_value();
    const bool daily_by_zone = q.split_column.empty() && q.needs.count("t") && q.needs.count("zone");
    EXPECT_EQ(answered, !daily_by_zone) << q.needs.size() << " columns, split " << q.split_column;
  }
}

TEST(RollupLattice, AtMostSoManyRollupsAreMadeFromTheRowsTheRestFromLargerOnes) {
  const auto queries = workload();
  const auto counts = synthetic_counts();
  for (size_t cap : {1u, 2u}) {
    LatticeOptions options;
    options.split_rows = 10'000'000 * 30.0 / 1461;
    options.max_from_rows = cap;
    const auto chosen = choose_rollups(queries, counts, options);
    ASSERT_FALSE(chosen.empty());
    size_t from_rows = 0;
    for (const auto& r : chosen) {
      bool held = false;
      for (const auto& o : chosen) held = held || (&o != &r && o.columns != r.columns && rollup_covers(o.columns, r.columns));
      if (!held) ++from_rows;
    }
    EXPECT_LE(from_rows, cap);
  }
}

TEST(RollupLattice, NothingIsChosenWhenNoSetIsSmallEnoughOrNothingIsAsked) {
  GroupCounts counts(1000);
  counts.set_column("id", Grain::Exact, 1000);
  EXPECT_TRUE(choose_rollups({{{{"id", Grain::Exact}}, 1, ""}}, counts, {}).empty());
  EXPECT_TRUE(choose_rollups({}, counts, {}).empty());
}

}  // namespace
}  // namespace sightline::query
