// Rollups as the engine's state file keeps them (engine/state_ledger.h): a JSON description of
// every table a build made and what it holds, so a restart over the same data and dashboards
// reads them back instead of building them again.
#include <nlohmann/json.hpp>

#include "engine/result_rows.h"
#include "query/rollup.h"
#include "query/top_values.h"

namespace sightline::query {

namespace {

std::optional<Grain> grain_named(const std::string& name) {
  for (Grain g : {Grain::Exact, Grain::Hour, Grain::Day, Grain::Month, Grain::Bins})
    if (name == grain_name(g)) return g;
  return std::nullopt;
}

nlohmann::json describe_rollup(const Rollup& r) {
  nlohmann::json grains = nlohmann::json::object();
  for (const auto& [c, g] : r.grains) grains[c] = grain_name(g);
  nlohmann::json aggregates = nlohmann::json::array();
  for (const auto& a : r.aggregates) aggregates.push_back({a.function, a.column});
  return {{"table", r.table},         {"relation", r.relation},       {"columns", r.columns},
          {"grains", grains},         {"aggregates", aggregates},     {"measure_types", r.measure_types},
          {"rows", r.rows},           {"source_rows", r.source_rows}, {"code_tables", r.code_tables}};
}

nlohmann::json describe_top_values(const TopValues& t) {
  return {{"column", t.column},         {"rows_table", t.rows_table}, {"codes_table", t.codes_table},       {"values", t.values},
          {"rows", t.rows},             {"bounds", t.bounds},         {"measure_types", t.measure_types}};
}

TopValues restore_top_values(const std::string& relation, const nlohmann::json& j) {
  TopValues t;
  t.relation = relation;
  t.column = j.at("column").get<std::string>();
  t.rows_table = j.at("rows_table").get<std::string>();
  t.codes_table = j.at("codes_table").get<std::string>();
  t.values = j.at("values").get<int64_t>();
  t.rows = j.at("rows").get<int64_t>();
  t.bounds = j.at("bounds").get<std::map<std::string, std::string>>();
  t.measure_types = j.at("measure_types").get<std::map<std::string, std::string>>();
  return t;
}

std::optional<Rollup> restore_rollup(const nlohmann::json& j) {
  Rollup r;
  r.table = j.at("table").get<std::string>();
  r.relation = j.at("relation").get<std::string>();
  r.columns = j.at("columns").get<std::set<std::string>>();
  for (const auto& [c, g] : j.at("grains").items()) {
    auto grain = grain_named(g.get<std::string>());
    if (!grain) return std::nullopt;
    r.grains[c] = *grain;
  }
  for (const auto& a : j.at("aggregates")) r.aggregates.insert({a.at(0).get<std::string>(), a.at(1).get<std::string>()});
  r.measure_types = j.at("measure_types").get<std::map<std::string, std::string>>();
  r.rows = j.at("rows").get<int64_t>();
  r.source_rows = j.at("source_rows").get<int64_t>();
  r.code_tables = j.at("code_tables").get<std::map<std::string, std::string>>();
  return r;
}

// Whether every table of `names` exists in the engine's database.
bool all_present(const engine::Engine& engine, const std::vector<std::string>& names) {
  if (names.empty()) return true;
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + engine::quote_literal(n);
  auto counted = engine.pool().run<engine::QueryOutput>(std::chrono::seconds(30), [&](engine::Connection& c) {
    return c.query("SELECT count(DISTINCT table_name) FROM duckdb_tables() WHERE schema_name = 'main' AND database_name = "
                   "current_database() AND table_name IN (" +
                       list + ")",
                   1);
  });
  if (!counted) return false;
  auto rows = engine::rows_of(*counted);
  return rows && !rows->empty() && engine::as_count((*rows)[0][0]) == static_cast<int64_t>(std::set(names.begin(), names.end()).size());
}

}  // namespace

std::vector<std::string> Rollups::tables() const {
  std::vector<std::string> out;
  for (const auto& r : rollups_) out.push_back(r.table);
  for (const auto& [key, table] : value_tables_) out.push_back(table);
  out.insert(out.end(), code_tables_.begin(), code_tables_.end());
  for (const auto& [relation, table] : sample_tables_) out.push_back(table);
  for (const auto& [key, top] : top_values_) {
    out.push_back(top->rows_table);
    out.push_back(top->codes_table);
  }
  return out;
}

std::string Rollups::describe() const {
  nlohmann::json parts = nlohmann::json::array();
  for (const auto& [relation, key] : part_keys_) {
    nlohmann::json rollups = nlohmann::json::array(), values = nlohmann::json::array(), codes = nlohmann::json::array();
    std::set<std::string> code_tables;
    for (const auto& r : rollups_) {
      if (r.relation != relation) continue;
      rollups.push_back(describe_rollup(r));
      for (const auto& [column, table] : r.code_tables) code_tables.insert(table);
    }
    for (const auto& t : code_tables) codes.push_back(t);
    for (const auto& [k, table] : value_tables_)
      if (k.first == relation) values.push_back({k.second, table});
    nlohmann::json sample = nullptr;
    if (auto it = sample_tables_.find(relation); it != sample_tables_.end())
      sample = {{"table", it->second}, {"scatter", scatter_samples_.count(relation) > 0}};
    nlohmann::json unique = nlohmann::json::array();
    if (auto it = unique_columns_.find(relation); it != unique_columns_.end()) unique = it->second;
    nlohmann::json tops = nlohmann::json::array();
    for (const auto& [k, top] : top_values_)
      if (k.first == relation) tops.push_back(describe_top_values(*top));
    parts.push_back({{"relation", relation}, {"key", key}, {"rollups", rollups}, {"value_tables", values}, {"code_tables", codes},
                     {"sample", sample}, {"unique_columns", unique}, {"top_values", tops}});
  }
  return nlohmann::json({{"parts", parts}}).dump();
}

std::map<std::string, std::pair<std::string, std::string>> Rollups::stored_parts(const std::string& description) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  auto j = nlohmann::json::parse(description, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("parts") || !j["parts"].is_array()) return out;
  for (const auto& part : j["parts"]) {
    if (!part.is_object() || !part.contains("relation") || !part.contains("key") || !part["relation"].is_string() ||
        !part["key"].is_string())
      continue;
    out[part["relation"].get<std::string>()] = {part["key"].get<std::string>(), part.dump()};
  }
  return out;
}

bool Rollups::adopt(const std::string& text, const engine::Engine& engine) {
  auto part = nlohmann::json::parse(text, nullptr, false);
  if (part.is_discarded()) return false;
  std::vector<Rollup> rollups;
  std::vector<std::pair<std::string, std::string>> values;  // column, table
  std::vector<std::string> codes, names;
  std::string relation, sample;
  std::set<std::string> unique;
  std::vector<TopValues> tops;
  bool scatter = false;
  try {
    relation = part.at("relation").get<std::string>();
    for (const auto& r : part.at("rollups")) {
      auto rollup = restore_rollup(r);
      if (!rollup || rollup->relation != relation) return false;
      names.push_back(rollup->table);
      rollups.push_back(std::move(*rollup));
    }
    for (const auto& v : part.at("value_tables")) values.emplace_back(v.at(0).get<std::string>(), v.at(1).get<std::string>());
    codes = part.at("code_tables").get<std::vector<std::string>>();
    unique = part.at("unique_columns").get<std::set<std::string>>();
    for (const auto& t : part.at("top_values")) tops.push_back(restore_top_values(relation, t));
    if (!part.at("sample").is_null()) {
      sample = part["sample"].at("table").get<std::string>();
      scatter = part["sample"].at("scatter").get<bool>();
    }
  } catch (const nlohmann::json::exception&) {
    return false;  // written by another release: built again
  }
  for (const auto& [column, table] : values) names.push_back(table);
  names.insert(names.end(), codes.begin(), codes.end());
  if (!sample.empty()) names.push_back(sample);
  for (const auto& t : tops) {
    names.push_back(t.rows_table);
    names.push_back(t.codes_table);
  }
  if (!all_present(engine, names)) return false;
  for (auto& t : tops) {
    const std::string column = t.column;
    top_values_[{relation, column}] = std::make_shared<const TopValues>(std::move(t));
  }
  for (auto& r : rollups) rollups_.push_back(std::move(r));
  for (const auto& [column, table] : values) value_tables_[{relation, column}] = table;
  code_tables_.insert(code_tables_.end(), codes.begin(), codes.end());
  if (!unique.empty()) unique_columns_[relation] = std::move(unique);
  if (!sample.empty()) {
    sample_tables_[relation] = sample;
    if (scatter) scatter_samples_.insert(relation);
  }
  return true;
}

}  // namespace sightline::query
