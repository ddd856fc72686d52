#include "query/sql_widgets.h"

#include <algorithm>
#include <regex>

#include "arrow/json_writer.h"
#include "engine/zone_timeline.h"
#include "query/rollup.h"

namespace sightline::query {
using config::WidgetType;
using nlohmann::json;

namespace {

bool same_name(std::string a, std::string b) {
  auto lower = [](std::string& s) { std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); }); };
  lower(a);
  lower(b);
  return a == b;
}

// DuckDB's parse of `sql` (json_serialize_sql), or null when it does not parse.
json parse(const engine::Engine& engine, const std::string& sql) {
  auto out = engine.pool().run<engine::QueryOutput>(std::chrono::seconds(10), [&](engine::Connection& c) {
    return c.query("SELECT json_serialize_sql(" + engine::quote_literal(sql) + ")", 1);
  });
  if (!out) return nullptr;
  auto rows = arrow::write_json_rows(out->table);
  if (!rows) return nullptr;
  json parsed = json::parse(*rows, nullptr, false);
  if (!parsed.is_object() || parsed["rows"].empty() || !parsed["rows"][0][0].is_string()) return nullptr;
  json ast = json::parse(parsed["rows"][0][0].get<std::string>(), nullptr, false);
  if (!ast.is_object() || ast.value("error", true) || !ast["statements"].is_array() || ast["statements"].size() != 1) return nullptr;
  return ast["statements"][0]["node"];
}

// The column a reference names when it is a plain column of the FROM relation (unqualified, or
// qualified by the relation's name or alias); "" otherwise.
std::string column_of(const json& e, const std::string& table, const std::string& alias) {
  if (!e.is_object() || e.value("class", "") != "COLUMN_REF") return "";
  const json& names = e["column_names"];
  if (!names.is_array() || names.empty() || names.size() > 2) return "";
  if (names.size() == 2) {
    const std::string q = names[0].get<std::string>();
    if (!same_name(q, table) && (alias.empty() || !same_name(q, alias))) return "";
  }
  return names.back().get<std::string>();
}

// The position an integer constant names (GROUP BY 1, ORDER BY 2), counted from 1; nullopt for
// anything else.
std::optional<size_t> position_of(const json& e) {
  if (!e.is_object() || e.value("class", "") != "CONSTANT") return std::nullopt;
  const json& v = e["value"];
  if (v.value("is_null", false) || !v["value"].is_number_integer()) return std::nullopt;
  const int64_t k = v["value"].get<int64_t>();
  if (k < 1) return std::nullopt;
  return static_cast<size_t>(k);
}

// A key of the query: a relation column, as it is or as a part of its date or time (grain
// hour_of_day, day_of_week or month_of_year; see planner's dimension_sql).
struct Key {
  std::string column;
  std::string grain;
  bool operator==(const Key&) const = default;
};

// The key a select item or GROUP BY expression is: a plain column, or hour(), isodow() or
// month() of one (hour() of a timestamp only); nullopt for anything else.
std::optional<Key> key_of(const json& e, const engine::Relation& rel, const std::string& table, const std::string& alias) {
  if (std::string c = column_of(e, table, alias); !c.empty()) return Key{c};
  if (!e.is_object() || e.value("class", "") != "FUNCTION" || e.value("is_operator", false) || e.value("distinct", false) ||
      !e["filter"].is_null() || !e.value("schema", "").empty() || !e["children"].is_array() || e["children"].size() != 1)
    return std::nullopt;
  const std::string name = e.value("function_name", "");
  std::optional<engine::DatePart> part;
  for (auto p : {engine::DatePart::HourOfDay, engine::DatePart::DayOfWeek, engine::DatePart::MonthOfYear})
    if (same_name(name, engine::date_part_function(p))) part = p;
  std::string c = column_of(e["children"][0], table, alias);
  const engine::ColumnInfo* info = c.empty() ? nullptr : rel.column(c);
  if (!part || !info) return std::nullopt;
  const auto kind = engine::value_kind(info->type);
  const bool fits = kind == engine::ValueKind::Timestamp || (kind == engine::ValueKind::Date && *part != engine::DatePart::HourOfDay);
  if (!fits) return std::nullopt;
  return Key{c, engine::date_part_grain(*part)};
}

// The key a GROUP BY expression groups by, as DuckDB binds it: a key expression; a position in
// the select list (GROUP BY 1) whose item is a key; or the alias of such an item, when no column
// has that name. nullopt for anything else.
std::optional<Key> group_key(const json& g, const json& select_list, const engine::Relation& rel, const std::string& table,
                             const std::string& alias) {
  if (auto k = position_of(g)) return *k <= select_list.size() ? key_of(select_list[*k - 1], rel, table, alias) : std::nullopt;
  std::string c = column_of(g, table, alias);
  if (!c.empty() && !rel.column(c) && g["column_names"].size() == 1)
    for (const auto& item : select_list)
      if (same_name(item.value("alias", ""), c)) return key_of(item, rel, table, alias);
  return key_of(g, rel, table, alias);
}

// SQL text of an expression a measure may hold (aggregates of columns, numbers, arithmetic and
// the scalar functions rollup.h accepts), or nullopt for anything else.
std::optional<std::string> print(const json& e, const std::string& table, const std::string& alias) {
  const std::string cls = e.value("class", "");
  if (cls == "COLUMN_REF") {
    std::string c = column_of(e, table, alias);
    if (c.empty()) return std::nullopt;
    return engine::quote_identifier(c);
  }
  if (cls == "CONSTANT") {
    const json& v = e["value"];
    if (v.value("is_null", false)) return std::string("NULL");
    const std::string id = v["type"].value("id", "");
    if (id != "INTEGER" && id != "BIGINT" && id != "DOUBLE" && id != "DECIMAL") return std::nullopt;
    const json& value = v["value"];
    if (!value.is_number()) return std::nullopt;
    return value.dump();
  }
  if (cls != "FUNCTION" || !e["filter"].is_null() || !e.value("schema", "").empty() ||
      (e["order_bys"].is_object() && !e["order_bys"]["orders"].empty()))
    return std::nullopt;
  const std::string name = e.value("function_name", "");
  const json& children = e["children"];
  if (name == "count_star" && children.empty()) return std::string("count(*)");
  std::vector<std::string> args;
  for (const auto& child : children) {
    auto a = print(child, table, alias);
    if (!a) return std::nullopt;
    args.push_back(*a);
  }
  if (e.value("is_operator", false)) {
    static const std::set<std::string> binary = {"+", "-", "*", "/", "%"};
    if (args.size() == 2 && binary.count(name)) return "(" + args[0] + " " + name + " " + args[1] + ")";
    if (args.size() == 1 && name == "-") return "(-" + args[0] + ")";
    return std::nullopt;
  }
  if (!std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; })) return std::nullopt;
  std::string joined;
  for (const auto& a : args) joined += (joined.empty() ? "" : ", ") + a;
  return name + "(" + std::string(e.value("distinct", false) ? "DISTINCT " : "") + joined + ")";
}

// A plain aggregate query over one relation, taken apart.
struct AggregateQuery {
  std::string relation;
  std::vector<config::DimensionSpec> keys;    // in select order
  std::vector<config::MeasureSpec> measures;  // in select order, after the keys
  std::optional<config::SortSpec> sort;
  int64_t limit = 0;
};

std::optional<AggregateQuery> take_apart(const json& node, const engine::Engine& engine) {
  if (!node.is_object() || node.value("type", "") != "SELECT_NODE") return std::nullopt;
  if (!node["cte_map"]["map"].empty() || !node["having"].is_null() || !node["qualify"].is_null() || !node["sample"].is_null())
    return std::nullopt;
  // GROUP BY ALL (DuckDB's "force aggregates") groups by every select item without an aggregate.
  const std::string handling = node.value("aggregate_handling", "");
  const bool group_by_all = handling == "FORCE_AGGREGATES";
  if (handling != "STANDARD_HANDLING" && !group_by_all) return std::nullopt;
  const json& from = node["from_table"];
  if (from.value("type", "") != "BASE_TABLE" || !from.value("schema_name", "").empty() || !from.value("catalog_name", "").empty() ||
      !from["sample"].is_null() || !from["column_name_alias"].empty())
    return std::nullopt;
  AggregateQuery q;
  const std::string table = from.value("table_name", ""), alias = from.value("alias", "");
  for (const auto& r : engine.relations())
    if (same_name(r.name, table)) q.relation = r.name;
  if (q.relation.empty()) return std::nullopt;
  const json& where = node["where_clause"];
  if (where.value("function_name", "") != "__sightline_filters__" || !where["children"].empty()) return std::nullopt;

  const json& list = node["select_list"];
  const engine::Relation* rel = engine.relation(q.relation);
  if (!rel) return std::nullopt;
  std::vector<Key> group;
  for (const auto& g : node["group_expressions"]) {
    auto k = group_key(g, list, *rel, table, alias);
    if (!k) return std::nullopt;
    group.push_back(*k);
  }
  const json& sets = node["group_sets"];
  if (!group.empty() && (sets.size() != 1 || sets[0].size() != group.size())) return std::nullopt;  // ROLLUP, CUBE, GROUPING SETS
  if (group_by_all) {
    // The keys are the leading plain columns; everything after them must be a measure (a plain
    // column after a measure, or any other expression without an aggregate, is refused below).
    if (!group.empty()) return std::nullopt;
    for (const auto& item : node["select_list"]) {
      auto k = key_of(item, *rel, table, alias);
      if (!k) break;
      group.push_back(*k);
    }
  }

  // The keys first, then the measures.
  for (size_t i = 0; i < list.size(); ++i) {
    const json& item = list[i];
    const std::string name = item.value("alias", "");
    if (i < group.size()) {
      auto k = key_of(item, *rel, table, alias);
      if (!k || !same_name(k->column, group[i].column) || k->grain != group[i].grain) return std::nullopt;
      // A part of a date is named by its alias (DuckDB would name it by its text).
      if (!k->grain.empty() && name.empty()) return std::nullopt;
      q.keys.push_back({.column = group[i].column, .grain = k->grain, .name = name.empty() ? k->column : name});
      continue;
    }
    auto expr = print(item, table, alias);
    if (!expr || name.empty() || !decompose_measure(*expr)) return std::nullopt;
    q.measures.push_back({.expr = *expr, .name = name});
  }
  if (q.measures.empty()) return std::nullopt;

  for (const auto& m : node["modifiers"]) {
    const std::string type = m.value("type", "");
    if (type == "ORDER_MODIFIER") {
      if (m["orders"].size() != 1) return std::nullopt;
      const json& o = m["orders"][0];
      if (o.value("null_order", "") != "ORDER_DEFAULT") return std::nullopt;
      std::string c = column_of(o["expression"], table, alias);
      // ORDER BY 2: the second result column.
      if (auto k = position_of(o["expression"]); k && *k <= q.keys.size() + q.measures.size())
        c = *k <= q.keys.size() ? q.keys[*k - 1].name : q.measures[*k - 1 - q.keys.size()].name;
      bool result_column = std::any_of(q.keys.begin(), q.keys.end(), [&](const auto& k) { return k.name == c; }) ||
                           std::any_of(q.measures.begin(), q.measures.end(), [&](const auto& ms) { return ms.name == c; });
      if (c.empty() || !result_column) return std::nullopt;
      q.sort = config::SortSpec{c, o.value("type", "") == "DESCENDING"};
    } else if (type == "LIMIT_MODIFIER") {
      if (!m["offset"].is_null() || m["limit"].value("class", "") != "CONSTANT") return std::nullopt;
      const json& v = m["limit"]["value"]["value"];
      if (!v.is_number_integer() || v.get<int64_t>() < 1) return std::nullopt;
      q.limit = v.get<int64_t>();
    } else {
      return std::nullopt;  // DISTINCT, ...
    }
  }
  return q;
}

}  // namespace

std::optional<config::WidgetSpec> declarative_equivalent(const config::WidgetSpec& widget, const engine::Engine& engine) {
  if (widget.sql.empty()) return std::nullopt;
  static const std::regex placeholder(R"(\{\{\s*filters\s*\}\})");
  std::string sql = std::regex_replace(widget.sql, placeholder, "__sightline_filters__()");
  if (sql.find("{{") != std::string::npos) return std::nullopt;
  std::optional<AggregateQuery> q;
  try {
    q = take_apart(parse(engine, sql), engine);
  } catch (const json::exception&) {
    return std::nullopt;  // a parse tree of another shape than the one expected: not a plain aggregate
  }
  if (!q) return std::nullopt;
  config::WidgetSpec out = widget;
  out.sql.clear();
  out.source = q->relation;
  out.measures = q->measures;
  out.sort = q->sort;
  out.limit = q->limit;
  switch (widget.type) {
    case WidgetType::Kpi:
      if (!q->keys.empty() || q->measures.size() != 1 || q->limit) return std::nullopt;
      return out;
    case WidgetType::Bar:
    case WidgetType::Line:
    case WidgetType::Area:
    case WidgetType::Pie: {
      // The widget names its x (and color) result columns; the keys must be exactly those. A
      // chart that names none shows its first column along x: one key, then the measures.
      if (q->keys.empty() || q->keys.size() > 2) return std::nullopt;
      if (!widget.x && (q->keys.size() != 1 || widget.color)) return std::nullopt;
      if (widget.x && q->keys[0].name != widget.x->column) return std::nullopt;
      out.x = q->keys[0];
      out.color.reset();
      if (q->keys.size() == 2) {
        if (!widget.color || q->keys[1].name != widget.color->column || q->limit) return std::nullopt;
        out.color = q->keys[1];
      } else if (widget.color) {
        return std::nullopt;
      }
      return out;
    }
    case WidgetType::Table:
      if (q->limit) return std::nullopt;  // paging and totals would differ
      out.columns = q->keys;
      return out;
    default:
      return std::nullopt;
  }
}

SqlWidgetEquivalents declarative_equivalents(const config::Project& project, const engine::Engine& engine) {
  SqlWidgetEquivalents out;
  for (const auto& d : project.dashboards)
    for (const auto& p : d.pages)
      for (const auto& w : p.widgets)
        if (auto e = declarative_equivalent(w, engine)) out[d.id + "/" + w.id] = std::move(*e);
  return out;
}

config::Project with_equivalents(config::Project project, const SqlWidgetEquivalents& equivalents) {
  for (auto& d : project.dashboards)
    for (auto& p : d.pages)
      for (auto& w : p.widgets)
        if (auto it = equivalents.find(d.id + "/" + w.id); it != equivalents.end()) w = it->second;
  return project;
}

}  // namespace sightline::query
