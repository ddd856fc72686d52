// Rollups::extend: pre-aggregates that take in appended rows without reading the old rows again.
// Each table of an appended relation is made anew beside the old one (which requests of the
// previous snapshot may still read) from its contents and the new rows; the tables of other
// relations are shared with the previous build.
#include <chrono>

#include "engine/append_store.h"
#include "engine/result_rows.h"
#include "query/rollup.h"
#include "query/rollup_internal.h"
#include "query/top_values.h"

namespace sightline::query {

namespace {

using engine::quote_identifier;
using engine::quote_literal;

// The tables one extension makes, dropped again unless it succeeds (release()).
class MadeTables {
 public:
  MadeTables(const engine::Engine& engine, std::string build_id) : engine_(engine), build_id_(std::move(build_id)) {}
  MadeTables(const MadeTables&) = delete;
  MadeTables& operator=(const MadeTables&) = delete;
  ~MadeTables() {
    for (const auto& t : made_) (void)detail::exec(engine_, "DROP TABLE IF EXISTS " + quote_identifier(t));
  }
  // A new table name of `kind` ("rollup", "codes", ...), unique to this extension.
  std::string name(const std::string& kind) {
    made_.push_back("__sightline_" + kind + "_" + build_id_ + "_" + std::to_string(made_.size() + 1));
    return made_.back();
  }
  void release() { made_.clear(); }

 private:
  const engine::Engine& engine_;
  std::string build_id_;
  std::vector<std::string> made_;
};

Result<int64_t> count_of(const engine::Engine& engine, const std::string& from) {
  auto counted = detail::query_rows(engine, "SELECT count(*) FROM " + from);
  if (!counted) return fail(counted.error());
  return engine::as_count((*counted)[0][0]).value_or(0);
}

// What extending one relation's tables needs.
struct Appending {
  const engine::Engine& engine;
  const engine::Relation& rel;
  std::string added;  // a parenthesized SELECT of the appended rows, with the relation's columns
  MadeTables& made;
};

// New values get the codes after the largest one: codes already in bitmaps keep their values.
Result<std::string> extend_codes(Appending& a, const std::string& column, const std::string& table) {
  const std::string made = a.made.name("codes");
  const std::string old = quote_identifier(table), col = quote_identifier(column);
  auto done = detail::exec(a.engine, "CREATE TABLE " + quote_identifier(made) + " AS SELECT v, code FROM " + old +
                                         " UNION ALL SELECT v, CAST((SELECT coalesce(max(code) + 1, 0) FROM " + old +
                                         ") + row_number() OVER (ORDER BY v) - 1 AS UINTEGER) FROM (SELECT DISTINCT " + col + " AS v FROM " +
                                         a.added + " AS r_ WHERE " + col + " IS NOT NULL EXCEPT SELECT v FROM " + old + ")");
  if (!done) return fail(done.error());
  return made;
}

// Statements run in order on one connection (its temporary tables live as long as it does).
Result<void> exec_all(const engine::Engine& engine, const std::vector<std::string>& statements) {
  auto r = engine.pool().run<int>(std::chrono::minutes(10), [&](engine::Connection& c) -> Result<int> {
    for (const auto& sql : statements)
      if (auto done = c.execute(sql); !done) return fail(done.error());
    return 0;
  });
  if (!r) return fail(r.error());
  return {};
}

// The new rows' groups; the old groups they share grouped again with them; every other old group
// copied as it is (appends mostly bring new days: most groups are untouched, and regrouping
// them all, bitmaps included, cost ~20 s at 10M rows).
Result<std::string> extend_rollup(Appending& a, const Rollup& r) {
  std::string keys, same_keys, delta_select;
  for (const auto& c : r.columns) {
    const std::string col = quote_identifier(c);
    keys += (keys.empty() ? "" : ", ") + col;
    same_keys += (same_keys.empty() ? "" : " AND ") + std::string("d_.") + col + " IS NOT DISTINCT FROM o_." + col;
    delta_select += (delta_select.empty() ? "" : ", ") + Rollup::key_sql(a.rel, c, r.grain_of(c)) + " AS " + col;
  }
  if (same_keys.empty()) same_keys = "TRUE";
  std::string regrouped = keys;
  for (const auto& call : r.aggregates) {
    delta_select += (delta_select.empty() ? "" : ", ") + Rollup::aggregate_sql(call) + " AS " + Rollup::stored_column(call);
    regrouped += (regrouped.empty() ? "" : ", ") + Rollup::reaggregate_sql(call) + " AS " + Rollup::stored_column(call);
  }
  const std::string group = r.columns.empty() ? "" : " GROUP BY ALL";
  const std::string made = a.made.name("rollup"), table = quote_identifier(made), old = quote_identifier(r.table);
  const std::string shared = "EXISTS (SELECT 1 FROM d_ WHERE " + same_keys + ")";
  // Made empty with the old table's column types first: the regrouped sums are put back into
  // the 64-bit types the build chose (an overflow fails the extension, and a build follows).
  auto done = exec_all(a.engine, {
      "CREATE OR REPLACE TEMP TABLE d_ AS SELECT " + delta_select + " FROM " +
          Rollup::rows_with_codes_sql(a.added, a.rel.name, r.code_tables) + group,
      "CREATE TABLE " + table + " AS SELECT * FROM " + old + " LIMIT 0",
      "INSERT INTO " + table + " SELECT * FROM " + old + " AS o_ WHERE NOT " + shared,
      "INSERT INTO " + table + " BY NAME SELECT " + regrouped + " FROM (SELECT * FROM " + old + " AS o_ WHERE " + shared +
          " UNION ALL BY NAME SELECT * FROM d_)" + group,
      "DROP TABLE d_"});
  if (!done) return fail(done.error());
  return made;
}

Result<std::string> extend_values(Appending& a, const std::string& column, const std::string& table) {
  const std::string made = a.made.name("values");
  const std::string col = quote_identifier(column);
  auto done = detail::exec(a.engine, "CREATE TABLE " + quote_identifier(made) + " AS SELECT v, CAST(sum(n) AS BIGINT) AS n FROM (SELECT v, n FROM " +
                                         quote_identifier(table) + " UNION ALL SELECT " + col + " AS v, count(*) AS n FROM " + a.added +
                                         " AS r_ WHERE " + col + " IS NOT NULL GROUP BY ALL) GROUP BY v ORDER BY v");
  if (!done) return fail(done.error());
  return made;
}

// The head takes the new rows of its values; each bound grows by the most any other value gains
// from the new rows (a value's measure over all rows is at most its old one plus its new rows'
// for the measures a head keeps bounds of). A sum whose new rows hold a negative value loses its
// bound (the head no longer answers by it).
Result<TopValues> extend_head(Appending& a, const TopValues& top) {
  TopValues out = top;
  out.rows_table = a.made.name("top");
  const std::string col = quote_identifier(top.column), codes = quote_identifier(top.codes_table);
  if (auto done = detail::exec(a.engine, "CREATE TABLE " + quote_identifier(out.rows_table) + " AS SELECT * FROM " +
                                             quote_identifier(top.rows_table));
      !done)
    return fail(done.error());
  if (auto done = detail::exec(a.engine, "INSERT INTO " + quote_identifier(out.rows_table) + " BY NAME SELECT r_.*, c_.code AS " +
                                             quote_identifier(kTopCodeColumn) + " FROM " + a.added + " AS r_ JOIN " + codes +
                                             " AS c_ ON r_." + col + " IS NOT DISTINCT FROM c_.v");
      !done)
    return fail(done.error());
  auto rows = count_of(a.engine, quote_identifier(out.rows_table));
  if (!rows) return fail(rows.error());
  out.rows = *rows;
  const std::string others =
      a.added + " AS r_ WHERE NOT EXISTS (SELECT 1 FROM " + codes + " AS c_ WHERE c_.v IS NOT DISTINCT FROM r_." + col + ")";
  for (auto it = out.bounds.begin(); it != out.bounds.end();) {
    const auto type = top.measure_types.find(it->first);
    const auto call = single_aggregate(it->first);
    bool keep = type != top.measure_types.end() && call.has_value();
    if (keep && call->function == "sum") {
      auto lowest = detail::query_rows(a.engine, "SELECT coalesce(min(" + quote_identifier(call->column) + ") >= 0, true) FROM " + a.added + " AS r_");
      if (!lowest) return fail(lowest.error());
      keep = (*lowest)[0][0] == true;
    }
    if (!keep) {
      it = out.bounds.erase(it);
      continue;
    }
    auto grown = detail::query_rows(a.engine, "SELECT CAST(CAST(" + it->second + " + coalesce(max(m_), 0) AS " + type->second +
                                                  ") AS VARCHAR) FROM (SELECT " + it->first + " AS m_ FROM " + others + " GROUP BY r_." +
                                                  col + ")");
    if (!grown) return fail(grown.error());
    if (!(*grown)[0][0].is_string()) return fail(ErrorKind::Internal, "a head's bound could not be raised");
    it->second = "CAST(" + quote_literal((*grown)[0][0].get<std::string>()) + " AS " + type->second + ")";
    ++it;
  }
  return out;
}

}  // namespace

std::shared_ptr<const Rollups> Rollups::extend(const std::shared_ptr<const Rollups>& previous,
                                               const std::shared_ptr<const engine::Engine>& engine_ptr, Logger& log, const RollupOptions& options) {
  if (!previous || !previous->engine_ || previous->engine_ != engine_ptr) return nullptr;
  const engine::Engine& engine = *previous->engine_;
  const std::set<std::string> stale = previous->stale(engine.data_versions());
  if (stale.empty()) return previous;
  std::map<std::string, engine::Engine::AppendedRows> appended;
  for (const auto& relation : stale) {
    auto rows = engine.appended_since(relation, previous->built_on_.of(relation));
    if (!rows || !engine.relation(relation)) return nullptr;
    appended[relation] = std::move(*rows);
  }
  const auto started = std::chrono::steady_clock::now();
  auto result = std::make_shared<Rollups>();
  result->engine_ = previous->engine_;
  result->rollups_ = previous->rollups_;
  result->value_tables_ = previous->value_tables_;
  result->code_tables_ = previous->code_tables_;
  result->sample_tables_ = previous->sample_tables_;
  result->scatter_samples_ = previous->scatter_samples_;
  result->unique_columns_ = previous->unique_columns_;
  result->indexed_ = previous->indexed_;
  result->top_values_ = previous->top_values_;
  result->signature_ = previous->signature_;
  result->part_keys_ = previous->part_keys_;
  result->part_key_texts_ = previous->part_key_texts_;
  result->built_on_ = previous->built_on_;
  result->build_id_ = detail::random_build_id();
  MadeTables made(engine, result->build_id_);
  auto give_up = [&](const std::string& relation, const Error& e) -> std::shared_ptr<const Rollups> {
    log.warn("rollups_not_extended", {{"source", relation}, {"reason", e.for_author()}});
    return nullptr;
  };
  int64_t tables = 0;
  // Seconds per kind of table, for the log: what an extension costs and where.
  std::map<std::string, double> spent;
  auto lap = [&, last = std::chrono::steady_clock::now()](const char* kind) mutable {
    const auto now = std::chrono::steady_clock::now();
    spent[kind] += std::chrono::duration<double>(now - last).count();
    last = now;
  };
  for (const auto& [relation, rows] : appended) {
    const engine::Relation& rel = *engine.relation(relation);
    result->built_on_.relations[relation] = rows.version;
    if (result->part_keys_.count(relation)) result->part_keys_[relation] = result->part_key(relation, rows.version);
    if (rows.rows_sql.empty()) continue;
    Appending a{engine, rel, "(" + rows.rows_sql + ")", made};
    auto source_rows = count_of(engine, quote_identifier(relation));
    if (!source_rows) return give_up(relation, source_rows.error());

    std::map<std::string, std::string> renamed;  // old table -> its extension
    for (auto& r : result->rollups_) {
      if (r.relation != relation) continue;
      for (auto& [column, table] : r.code_tables) {
        if (!renamed.count(table)) {
          auto codes = extend_codes(a, column, table);
          if (!codes) return give_up(relation, codes.error());
          renamed[table] = *codes;
        }
        table = renamed[table];
      }
    }
    for (auto& t : result->code_tables_)
      if (auto it = renamed.find(t); it != renamed.end()) t = it->second;
    lap("codes");
    for (auto& r : result->rollups_) {
      if (r.relation != relation) continue;
      auto table = extend_rollup(a, r);
      if (!table) return give_up(relation, table.error());
      auto counted = count_of(engine, quote_identifier(*table));
      if (!counted) return give_up(relation, counted.error());
      r.table = *table;
      r.rows = *counted;
      r.source_rows = *source_rows;
      ++tables;
    }
    lap("rollups");
    for (auto& [key, table] : result->value_tables_) {
      if (key.first != relation) continue;
      auto values = extend_values(a, key.second, table);
      if (!values) return give_up(relation, values.error());
      table = *values;
      ++tables;
    }
    lap("values");
    for (auto& [key, top] : result->top_values_) {
      if (key.first != relation) continue;
      auto head = extend_head(a, *top);
      if (!head) return give_up(relation, head.error());
      top = std::make_shared<const TopValues>(std::move(*head));
      ++tables;
    }
    lap("heads");
    if (auto sample = result->sample_tables_.find(relation); sample != result->sample_tables_.end()) {
      auto added = count_of(engine, a.added + " AS r_");
      if (!added) return give_up(relation, added.error());
      auto sample_size = [&](int64_t rows) { return rows > 2 * options.sample_rows ? options.sample_rows : rows / 4; };
      const int64_t size = sample_size(*source_rows);
      const std::string table = made.name("sample");
      std::string draw = "CREATE TABLE " + quote_identifier(table) + " AS ";
      if (size == sample_size(*source_rows - *added)) {
        // As many rows as before, taken from the old sample and the new rows in proportion to
        // the rows each stands for: every row, old or new, is in it with the same chance
        // (size / rows), without reading the old rows again.
        const int64_t from_new = std::llround(static_cast<double>(size) * static_cast<double>(*added) / static_cast<double>(*source_rows));
        draw += "SELECT * FROM " + quote_identifier(sample->second) + " USING SAMPLE reservoir(" + std::to_string(size - from_new) +
                " ROWS) REPEATABLE (7) UNION ALL SELECT * FROM " + a.added + " AS r_ USING SAMPLE reservoir(" + std::to_string(from_new) +
                " ROWS) REPEATABLE (7)";
      } else {
        // A small relation's sample grows with it: drawn from all rows again.
        draw += "SELECT * FROM " + quote_identifier(relation) + " USING SAMPLE reservoir(" + std::to_string(std::max<int64_t>(size, 1)) +
                " ROWS) REPEATABLE (7)";
      }
      auto drawn = detail::exec(engine, draw);
      if (!drawn) return give_up(relation, drawn.error());
      sample->second = table;
      if (*source_rows > 2 * options.sample_rows) result->scatter_samples_.insert(relation);
      else result->scatter_samples_.erase(relation);
      ++tables;
    }
    lap("sample");
    // New rows may repeat a value of a column that was unique: only those can still be.
    if (auto unique = result->unique_columns_.find(relation); unique != result->unique_columns_.end())
      unique->second = detail::find_unique_columns(engine, rel, std::vector<std::string>(unique->second.begin(), unique->second.end()));
    lap("unique_columns");
    log.info("rollups_extended", {{"source", relation},
                                  {"rows", *source_rows},
                                  {"files", rows.batches},
                                  {"tables", tables},
                                  {"seconds_by_kind", spent},
                                  {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}});
  }
  made.release();
  result->claim_and_keep(log);
  return result;
}

}  // namespace sightline::query
