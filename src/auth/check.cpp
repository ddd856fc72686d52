#include "auth/check.h"

#include <cctype>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "arrow/json_writer.h"
#include "auth/policies.h"

namespace sightline::auth {
using config::Diagnostic;
using nlohmann::json;

namespace {

std::string text_of(const json& node, const char* key) {
  auto it = node.find(key);
  return it != node.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// DuckDB matches table and CTE names case-insensitively (quoted or not), so the names compared
// here are folded: `FROM ORDERS` binds to the shadowing CTE `orders` exactly as `FROM orders` does.
std::string fold_case(std::string name) {
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

// The names a statement defines with WITH, anywhere in it (case-folded).
void find_cte_names(const json& node, std::set<std::string>& names) {
  if (node.is_object()) {
    if (auto it = node.find("cte_map"); it != node.end() && it->is_object() && it->contains("map") && (*it)["map"].is_array()) {
      for (const auto& entry : (*it)["map"])
        if (entry.is_object() && entry.contains("key") && entry["key"].is_string())
          names.insert(fold_case(entry["key"].get<std::string>()));
    }
    for (const auto& [k, v] : node.items()) find_cte_names(v, names);
  } else if (node.is_array()) {
    for (const auto& v : node) find_cte_names(v, names);
  }
}

// What in a parsed statement could read rows around the policies' shadowing CTEs: qualified
// names, table functions, and any table name that is neither a source, a model nor a CTE of
// the statement (e.g. a file path, which DuckDB would read directly).
void find_escapes(const json& node, const std::set<std::string>& allowed, std::vector<std::string>& found) {
  if (node.is_object()) {
    std::string type = text_of(node, "type");
    if (type == "BASE_TABLE") {
      std::string schema = text_of(node, "schema_name"), catalog = text_of(node, "catalog_name"), table = text_of(node, "table_name");
      if (!schema.empty() || !catalog.empty()) {
        found.push_back("'" + (catalog.empty() ? "" : catalog + ".") + schema + "." + table + "' (qualified name)");
      } else if (!allowed.count(fold_case(table))) {
        found.push_back("'" + table.substr(0, 120) + "' (not a source or model of the project)");
      }
    } else if (type == "TABLE_FUNCTION") {
      std::string fn = "a table function";
      if (node.contains("function") && node["function"].is_object() && !text_of(node["function"], "function_name").empty())
        fn = text_of(node["function"], "function_name");
      found.push_back("'" + fn + "(...)' (table function)");
    }
    for (const auto& [k, v] : node.items()) find_escapes(v, allowed, found);
  } else if (node.is_array()) {
    for (const auto& v : node) find_escapes(v, allowed, found);
  }
}

Result<json> query_json(const engine::Engine& engine, const std::string& sql, const std::vector<engine::Param>& params) {
  return engine.pool().run<json>(engine.query_timeout(), [&](engine::Connection& c) -> Result<json> {
    auto st = c.prepare(sql);
    if (!st) return fail(st.error());
    auto out = st->execute(params, 10);
    if (!out) return fail(out.error());
    auto text = arrow::write_json_rows(out->table);
    if (!text) return fail(text.error());
    return json::parse(*text)["rows"];
  });
}

// Every column a parsed expression references (the last part of each column name).
void find_columns(const json& node, std::vector<std::string>& found, bool& subquery) {
  if (node.is_object()) {
    // A subquery, a qualified column (orders.region: no such table over a rollup) or a star:
    // the columns are not simply known, so the rows are read directly.
    if (text_of(node, "class") == "SUBQUERY" || text_of(node, "class") == "STAR") subquery = true;
    if (text_of(node, "class") == "COLUMN_REF" && node.contains("column_names") && node["column_names"].is_array() &&
        node["column_names"].size() != 1)
      subquery = true;
    if (text_of(node, "class") == "COLUMN_REF" && node.contains("column_names") && node["column_names"].is_array() &&
        !node["column_names"].empty() && node["column_names"].back().is_string()) {
      found.push_back(node["column_names"].back().get<std::string>());
    }
    for (const auto& [k, v] : node.items()) find_columns(v, found, subquery);
  } else if (node.is_array()) {
    for (const auto& v : node) find_columns(v, found, subquery);
  }
}

std::string sql_literal(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::vector<Diagnostic> check_security(const config::Project& project, const engine::Engine& engine,
                                       std::vector<std::optional<std::vector<std::string>>>* policy_columns) {
  std::vector<Diagnostic> out;
  if (policy_columns) policy_columns->assign(project.policies.size(), std::nullopt);
  size_t index = 0;
  Identity sample{"https://issuer.invalid", "sample-subject", "sample@example.com", "Sample User", {"sample-group"}, json::object()};
  for (const auto& policy : project.policies) {
    size_t policy_index = index++;
    if (policy.all_rows) continue;
    auto compiled = compile_policy(policy.predicate, sample);
    if (!compiled) {
      out.push_back({Diagnostic::Severity::Error, policy.pos,
                     "row policy " + policy.relation + "/" + policy.role + ": " + compiled.error().message, compiled.error().hint});
      continue;
    }
    // Run, not only prepared, with a sample user's values: binding them checks that every
    // placeholder became a parameter. LIMIT 0 reads no rows.
    std::string sql = "SELECT * FROM main." + engine::quote_identifier(policy.relation) + " WHERE " + compiled->sql + " LIMIT 0";
    auto prepared = engine.pool().run<int>(engine.query_timeout(), [&](engine::Connection& c) -> Result<int> {
      auto st = c.prepare(sql);
      if (!st) return fail(st.error());
      auto ran = st->execute(compiled->params, 1);
      if (!ran) return fail(ran.error());
      return 0;
    });
    if (!prepared) {
      std::string msg = prepared.error().for_author();
      const auto* rel = engine.relation(policy.relation);
      out.push_back({Diagnostic::Severity::Error, policy.pos,
                     "row policy " + policy.relation + "/" + policy.role + " does not compile: " + msg.substr(0, msg.find('\n')),
                     rel ? "columns of " + policy.relation + ": " + rel->column_list() : ""});
      continue;
    }
    if (policy_columns) {
      // Which columns it reads decides whether a pre-aggregate can answer under it. Anything
      // unclear (a subquery, a parse failure) leaves it unknown: the rows are then read directly.
      auto parsed = query_json(engine, "SELECT json_serialize_sql(" + sql_literal("SELECT 1 FROM t WHERE " + compiled->sql) + ")", {});
      if (parsed && !parsed->empty() && (*parsed)[0].is_array() && !(*parsed)[0].empty()) {
        const json& cell = (*parsed)[0][0];
        json tree = cell.is_string() ? json::parse(cell.get<std::string>(), nullptr, false) : cell;
        bool subquery = false;
        std::vector<std::string> columns;
        if (tree.is_object() && tree.contains("error") && tree["error"].is_boolean() && !tree["error"].get<bool>()) {
          find_columns(tree, columns, subquery);
          if (!subquery) (*policy_columns)[policy_index] = columns;
        }
      }
    }
  }
  if (!project.auth.enabled()) return out;
  static const std::regex placeholder(R"(\{\{\s*filters\s*\}\})");
  for (const auto& d : project.dashboards) {
    for (const auto& page : d.pages) {
      for (const auto& w : page.widgets) {
        if (w.sql.empty()) continue;
        std::string sql = std::regex_replace(w.sql, placeholder, "TRUE");
        // A literal, not a parameter: json_serialize_sql takes a constant.
        auto parsed = query_json(engine, "SELECT json_serialize_sql(" + sql_literal(sql) + ")", {});
        if (!parsed || parsed->empty() || !(*parsed)[0].is_array() || (*parsed)[0].empty()) {
          std::string why = parsed ? "no answer" : parsed.error().for_author().substr(0, parsed.error().for_author().find('\n'));
          out.push_back(
              {Diagnostic::Severity::Error, w.pos, "widget '" + w.id + "': its SQL could not be inspected for row policies: " + why, ""});
          continue;
        }
        const json& cell = (*parsed)[0][0];
        json tree = cell.is_string() ? json::parse(cell.get<std::string>(), nullptr, false) : cell;
        if (tree.is_discarded() || !tree.is_object() || !tree.contains("error") || !tree["error"].is_boolean() ||
            tree["error"].get<bool>() || !tree.contains("statements") || tree["statements"].size() != 1) {
          out.push_back({Diagnostic::Severity::Error, w.pos, "widget '" + w.id + "': its SQL must be one SELECT statement",
                         "row policies can only be applied to a single query"});
          continue;
        }
        std::set<std::string> allowed;
        for (const auto& r : engine.relations()) allowed.insert(fold_case(r.name));
        find_cte_names(tree, allowed);
        std::vector<std::string> escapes;
        find_escapes(tree, allowed, escapes);
        for (const auto& e : escapes) {
          out.push_back({Diagnostic::Severity::Error, w.pos,
                         "widget '" + w.id + "': its SQL reads " + e + ", which row policies cannot restrict",
                         "name sources and models plainly (FROM orders), so each caller reads only their rows"});
        }
      }
    }
  }
  return out;
}

}  // namespace sightline::auth
