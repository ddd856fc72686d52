// Rollups as the engine's state file keeps them (engine/state_ledger.h): a JSON description of
// every table a build made and what it holds, so a restart over the same data and dashboards
// reads them back instead of building them again.
#include <nlohmann/json.hpp>

#include "engine/result_rows.h"
#include "query/rollup.h"

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
  return out;
}

std::string Rollups::describe() const {
  nlohmann::json rollups = nlohmann::json::array();
  for (const auto& r : rollups_) rollups.push_back(describe_rollup(r));
  nlohmann::json values = nlohmann::json::array();
  for (const auto& [key, table] : value_tables_) values.push_back({key.first, key.second, table});
  nlohmann::json samples = nlohmann::json::array();
  for (const auto& [relation, table] : sample_tables_) samples.push_back({relation, table, scatter_samples_.count(relation) > 0});
  nlohmann::json j = {{"rollups", rollups},         {"value_tables", values},     {"code_tables", code_tables_},
                      {"samples", samples},         {"signature", signature_},    {"build_id", build_id_}};
  return j.dump();
}

std::shared_ptr<Rollups> Rollups::restore(const std::string& description, std::shared_ptr<const engine::Engine> engine) {
  auto j = nlohmann::json::parse(description, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return nullptr;
  auto out = std::make_shared<Rollups>();
  try {
    for (const auto& r : j.at("rollups")) {
      auto rollup = restore_rollup(r);
      if (!rollup) return nullptr;
      out->rollups_.push_back(std::move(*rollup));
    }
    for (const auto& v : j.at("value_tables"))
      out->value_tables_[{v.at(0).get<std::string>(), v.at(1).get<std::string>()}] = v.at(2).get<std::string>();
    out->code_tables_ = j.at("code_tables").get<std::vector<std::string>>();
    for (const auto& s : j.at("samples")) {
      out->sample_tables_[s.at(0).get<std::string>()] = s.at(1).get<std::string>();
      if (s.at(2).get<bool>()) out->scatter_samples_.insert(s.at(0).get<std::string>());
    }
    out->signature_ = j.at("signature").get<std::string>();
    out->build_id_ = j.at("build_id").get<std::string>();
  } catch (const nlohmann::json::exception&) {
    return nullptr;  // written by another release: built again
  }
  if (!all_present(*engine, out->tables())) return nullptr;
  out->engine_ = std::move(engine);
  return out;
}

}  // namespace sightline::query
