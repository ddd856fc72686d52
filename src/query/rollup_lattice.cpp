#include "query/rollup_lattice.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace sightline::query {

bool rollup_covers(const ColumnGrains& kept, const ColumnGrains& needs) {
  // As Rollups::match: a column is a time or a number, never both, so the order of Grain serves.
  return std::all_of(needs.begin(), needs.end(), [&](const auto& need) {
    auto it = kept.find(need.first);
    return it != kept.end() && it->second <= need.second;
  });
}

std::optional<double> answer_cost(const ColumnGrains& kept, double kept_rows, const LatticeQuery& q, double split_rows) {
  if (rollup_covers(kept, q.needs)) return kept_rows;
  if (split_rows <= 0 || q.split_column.empty()) return std::nullopt;
  auto it = kept.find(q.split_column);
  if (it == kept.end() || it->second != Grain::Month) return std::nullopt;
  ColumnGrains monthly = q.needs;
  monthly[q.split_column] = Grain::Month;
  if (!rollup_covers(kept, monthly)) return std::nullopt;
  return kept_rows + split_rows;
}

void GroupCounts::set_column(const std::string& column, Grain grain, int64_t count) {
  columns_[{column, grain}] = std::max<int64_t>(1, count);
}

void GroupCounts::set_pair(const std::string& a, Grain ga, const std::string& b, Grain gb, int64_t count) {
  Level x{a, ga}, y{b, gb};
  if (y < x) std::swap(x, y);
  pairs_[{x, y}] = std::max<int64_t>(1, count);
}

namespace {

// How many of `combinations` possible groups n rows fill when they fall independently.
double filled(double combinations, double n) {
  if (combinations <= 0) return 0;
  return combinations * -std::expm1(-n / combinations);
}

// How many of `sets` no other of them holds (each is made from the relation's rows).
size_t made_from_rows(const std::vector<ColumnGrains>& sets) {
  size_t n = 0;
  for (size_t i = 0; i < sets.size(); ++i) {
    bool held = false;
    for (size_t j = 0; j < sets.size() && !held; ++j)
      held = j != i && sets[j] != sets[i] && rollup_covers(sets[j], sets[i]);
    if (!held) ++n;
  }
  return n;
}

}  // namespace

int64_t GroupCounts::estimate(const ColumnGrains& set) const {
  if (set.empty()) return 1;
  if (auto m = measured_.find(set); m != measured_.end()) return m->second;
  const double n = static_cast<double>(rows_);
  std::vector<Level> levels(set.begin(), set.end());
  std::vector<double> log_card;
  for (const auto& l : levels) {
    auto it = columns_.find(l);
    log_card.push_back(std::log(it == columns_.end() ? n : static_cast<double>(it->second)));
  }
  double log_product = 0;
  for (double c : log_card) log_product += c;
  // Each pair's shortfall from independence: its measured count over what independent columns
  // would fill with these rows (<= 0 in log terms; 0 when independent or unmeasured).
  const size_t k = levels.size();
  std::vector<std::vector<double>> dependency(k, std::vector<double>(k, 0));
  for (size_t i = 0; i < k; ++i)
    for (size_t j = i + 1; j < k; ++j) {
      Level x = levels[i], y = levels[j];
      if (y < x) std::swap(x, y);
      auto it = pairs_.find({x, y});
      if (it == pairs_.end()) continue;
      const double independent = filled(std::exp(log_card[i] + log_card[j]), n);
      dependency[i][j] = dependency[j][i] = std::min(0.0, std::log(static_cast<double>(it->second) / independent));
    }
  // Maximum spanning tree of the dependencies (Prim's, on the most negative shortfalls).
  std::vector<bool> in_tree(k, false);
  std::vector<double> best(k, 0);
  in_tree[0] = true;
  for (size_t j = 1; j < k; ++j) best[j] = dependency[0][j];
  double log_groups = log_product;
  for (size_t step = 1; step < k; ++step) {
    size_t pick = k;
    for (size_t j = 0; j < k; ++j)
      if (!in_tree[j] && (pick == k || best[j] < best[pick])) pick = j;
    in_tree[pick] = true;
    log_groups += best[pick];
    for (size_t j = 0; j < k; ++j)
      if (!in_tree[j]) best[j] = std::min(best[j], dependency[pick][j]);
  }
  double groups = filled(std::exp(std::min(log_groups, 700.0)), n);
  // A measured subset bounds the set: its groups times the counts of the columns it lacks.
  for (const auto& [subset, count] : measured_) {
    if (subset.size() >= set.size() || !rollup_covers(set, subset)) continue;
    bool same_grains = std::all_of(subset.begin(), subset.end(), [&](const auto& c) { return set.at(c.first) == c.second; });
    if (!same_grains) continue;
    double bound = std::log(static_cast<double>(count));
    for (size_t i = 0; i < k; ++i)
      if (!subset.count(levels[i].first)) bound += log_card[i];
    groups = std::min(groups, std::exp(std::min(bound, 700.0)));
  }
  return static_cast<int64_t>(std::clamp(std::llround(groups), 1LL, static_cast<long long>(std::max<int64_t>(1, rows_))));
}

std::vector<ChosenRollup> choose_rollups(const std::vector<LatticeQuery>& workload, const GroupCounts& counts,
                                         const LatticeOptions& options) {
  // The distinct questions, with their weights summed.
  std::map<std::pair<ColumnGrains, std::string>, double> merged;
  for (const auto& q : workload)
    if (q.weight > 0) merged[{q.needs, q.split_column}] += q.weight;
  std::vector<LatticeQuery> questions;
  std::vector<double> weights;
  for (const auto& [key, weight] : merged) {
    questions.push_back({key.first, weight, key.second});
    weights.push_back(weight);
  }
  const double rows = static_cast<double>(counts.rows());
  // Candidates: each question's own column set (and by the month, for a split), when its rollup
  // is small enough.
  struct Candidate {
    ColumnGrains columns;
    double size;
    std::vector<std::pair<size_t, double>> answers;  // the questions it answers, and at what cost
  };
  std::set<ColumnGrains> sets;
  for (const auto& q : questions) {
    sets.insert(q.needs);
    if (!q.split_column.empty() && options.split_rows > 0) {
      ColumnGrains monthly = q.needs;
      monthly[q.split_column] = Grain::Month;
      sets.insert(monthly);
    }
  }
  std::vector<Candidate> candidates;
  for (const auto& set : sets) {
    const int64_t size = counts.estimate(set);
    if (size * options.min_reduction > counts.rows()) continue;
    Candidate c{set, static_cast<double>(size), {}};
    for (size_t q = 0; q < questions.size(); ++q)
      if (auto cost = answer_cost(set, c.size, questions[q], options.split_rows)) c.answers.emplace_back(q, *cost);
    candidates.push_back(std::move(c));
  }
  // Rows read below the floor cost the floor (but a small relation's rollups still pay off).
  const double floor = std::min(options.row_floor, rows / static_cast<double>(2 * std::max<int64_t>(1, options.min_reduction)));
  auto read_cost = [&](double r) { return std::max(r, floor); };
  std::vector<double> cost(questions.size(), rows);
  double total = 0;
  for (double w : weights) total += w * rows;
  std::vector<ChosenRollup> chosen;
  std::vector<bool> taken(candidates.size(), false);
  double space = 0;
  while (chosen.size() < options.max_rollups) {
    size_t pick = candidates.size();
    double pick_gain = 0;
    std::vector<ColumnGrains> sets;
    for (const auto& c : chosen) sets.push_back(c.columns);
    const size_t from_rows = made_from_rows(sets);
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (taken[i] || space + candidates[i].size > options.space_budget * rows) continue;
      sets.push_back(candidates[i].columns);
      const bool more = made_from_rows(sets) > from_rows;
      sets.pop_back();
      if (more && from_rows >= options.max_from_rows) continue;  // only if it holds a set made from the rows now
      double gain = 0;
      for (const auto& [q, c] : candidates[i].answers) gain += weights[q] * std::max(0.0, cost[q] - read_cost(c));
      // A rollup of at most the floor's rows, made from a larger one, costs next to nothing to
      // build and keep: it is worth a far smaller gain (a distinct count by the day alone, read
      // from 1,461 rows instead of 42,000 rows of a rollup that also keeps other columns).
      const bool small = !more && candidates[i].size <= floor;
      if (gain < options.min_gain * total * (small ? options.small_gain_factor : 1.0)) continue;
      // Of two sets saving the same, the smaller (cheaper to build and keep).
      const bool better = gain > pick_gain * (1 + 1e-9);
      const bool as_good_and_smaller =
          pick < candidates.size() && gain >= pick_gain * (1 - 1e-9) && candidates[i].size < candidates[pick].size;
      if (better || as_good_and_smaller) {
        pick = i;
        pick_gain = gain;
      }
    }
    if (pick == candidates.size()) break;
    taken[pick] = true;
    space += candidates[pick].size;
    for (const auto& [q, c] : candidates[pick].answers) cost[q] = std::min(cost[q], read_cost(c));
    chosen.push_back({candidates[pick].columns, static_cast<int64_t>(candidates[pick].size)});
  }
  return chosen;
}

LatticeCoverage lattice_coverage(const std::vector<LatticeQuery>& workload, const std::vector<ChosenRollup>& chosen, int64_t rows,
                                 double split_rows) {
  LatticeCoverage out;
  double weight = 0, answered = 0, read = 0;
  for (const auto& q : workload) {
    double cost = static_cast<double>(rows);
    for (const auto& r : chosen)
      if (auto c = answer_cost(r.columns, static_cast<double>(r.estimated_rows), q, split_rows)) cost = std::min(cost, *c);
    weight += q.weight;
    if (cost < static_cast<double>(rows)) answered += q.weight;
    read += q.weight * cost;
  }
  if (weight > 0) {
    out.answered = answered / weight;
    out.rows_per_query = read / weight;
  }
  return out;
}

}  // namespace sightline::query
