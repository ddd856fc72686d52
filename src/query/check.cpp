#include "query/check.h"

#include <cctype>
#include <optional>
#include <regex>
#include <vector>

#include "query/planner.h"

namespace sightline::query {
using config::Diagnostic;
using nlohmann::json;

namespace {

std::string column_hint(const engine::Relation& rel, const std::string& column) {
  std::string best;
  size_t best_d = 3;
  for (const auto& c : rel.columns) {
    size_t d = config::edit_distance(column, c.name);
    if (d < best_d) best_d = d, best = c.name;
  }
  if (!best.empty()) return "did you mean '" + best + "'? (columns of " + rel.name + ": " + rel.column_list() + ")";
  return "columns of " + rel.name + ": " + rel.column_list();
}

// A value of the right kind for a column, to exercise a filter's predicate at check time.
json sample_value(engine::ValueKind kind) {
  switch (kind) {
    case engine::ValueKind::Integer: return 1;
    case engine::ValueKind::Float:
    case engine::ValueKind::Decimal: return 1.5;
    case engine::ValueKind::Boolean: return true;
    case engine::ValueKind::Date:
    case engine::ValueKind::Timestamp: return "2024-01-01";
    default: return "x";
  }
}

json sample_filter_value(const config::FilterSpec& f, engine::ValueKind kind) {
  switch (f.type) {
    case config::FilterType::Select: return sample_value(kind);
    case config::FilterType::MultiSelect: return json::array({sample_value(kind)});
    case config::FilterType::Range: return json::array({sample_value(kind), sample_value(kind)});
    case config::FilterType::DateRange: return {{"from", "2024-01-01"}, {"to", "2024-12-31"}};
    case config::FilterType::Text: return "x";
  }
  return nullptr;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// What a non-aggregate measure does to each kind of widget, for the message.
std::string non_aggregate_effect(config::WidgetType type) {
  switch (type) {
    case config::WidgetType::Kpi:
      return "a KPI would show the value of one arbitrary row";
    case config::WidgetType::Table:
      return "the table would get a row per distinct value instead of one per group";
    default:
      return "the chart would plot a point per distinct value instead of one per x";
  }
}

// The aggregate an author most likely meant for a bare column.
std::string likely_aggregate(const engine::Relation& rel, const std::string& column) {
  const auto* info = rel.column(column);
  engine::ValueKind kind = info ? engine::value_kind(info->type) : engine::ValueKind::Other;
  bool numeric = kind == engine::ValueKind::Integer || kind == engine::ValueKind::Float || kind == engine::ValueKind::Decimal;
  return (numeric ? "sum(" : "count(DISTINCT ") + column + ")";
}

// What a widget's measures are computed per: its dimensions that are plain columns (a column
// truncated to a grain is not constant within a group, so it is left out).
std::string grouping(const config::WidgetSpec& w) {
  std::vector<const config::DimensionSpec*> dims;
  for (const auto* opt : {&w.x, &w.y_dim, &w.color})
    if (*opt) dims.push_back(&**opt);
  for (const auto& c : w.columns) dims.push_back(&c);
  std::string keys;
  for (const auto* d : dims)
    if (d->grain.empty()) keys += (keys.empty() ? "" : ", ") + engine::quote_identifier(d->column);
  return keys.empty() ? "()" : keys;
}

// A measure must aggregate. Without GROUP BY (a KPI) DuckDB answers a bare column with one
// arbitrary row's value; under GROUP BY ALL (charts, tables) it silently becomes one more grouping
// key. Grouped explicitly (`GROUP BY ()` for a KPI), DuckDB refuses any column outside an
// aggregate that is not a grouping key, while constants pass.
std::optional<Diagnostic> check_aggregate(const config::WidgetSpec& w, const config::MeasureSpec& m, const engine::Relation& rel,
                                          const engine::Engine& engine) {
  std::string sql = "SELECT " + m.expr + " AS m FROM " + engine::quote_identifier(rel.name) + " GROUP BY " + grouping(w);
  auto prepared = engine.pool().run<int>(engine.query_timeout(), [&](engine::Connection& c) -> Result<int> {
    auto s = c.prepare(sql);
    if (!s) return fail(s.error());
    return 0;
  });
  static const std::regex outside(R"re(column "([^"]+)" must appear in the GROUP BY clause)re");
  std::smatch match;
  // Other errors (an unknown column, a syntax error) are reported where the widget is compiled.
  if (prepared || !std::regex_search(prepared.error().for_author(), match, outside)) return std::nullopt;
  std::string column = match[1];
  std::string expr = m.expr;
  expr.erase(0, expr.find_first_not_of(" \t\n"));
  expr.erase(expr.find_last_not_of(" \t\n") + 1);
  std::string hint;
  if (lower(expr) == lower(column)) {
    hint = "did you mean " + likely_aggregate(rel, column) + "?";
    if (w.type == config::WidgetType::Table) hint += " (or list '" + column + "' under columns:)";
  } else {
    hint = "aggregate '" + column + "' inside it, e.g. " + likely_aggregate(rel, column) + ", or any_value(" + column +
           ") when every row holds the same value";
  }
  return Diagnostic{Diagnostic::Severity::Error, m.pos,
                    "widget '" + w.id + "': measure '" + expr.substr(0, 120) + "' is not an aggregate: " + non_aggregate_effect(w.type),
                    hint};
}

}  // namespace

std::vector<Diagnostic> check_dashboards(const config::Project& project, const engine::Engine& engine, SqlWidgetColumns* sql_columns) {
  std::vector<Diagnostic> out;
  auto error = [&](const config::Position& pos, std::string msg, std::string hint = {}) {
    out.push_back({Diagnostic::Severity::Error, pos, std::move(msg), std::move(hint)});
  };
  Scope scope = Scope::local_development();
  for (const auto& d : project.dashboards) {
    const engine::Relation* source = engine.relation(d.source);
    // Filters: the column must exist in the dashboard's source (or, without one, in some widget's).
    QueryRequest all_filters;
    bool filters_ok = true;
    for (const auto& f : d.filters) {
      const engine::Relation* rel = source;
      if (!rel || !rel->column(f.column)) {
        rel = nullptr;
        for (const auto& p : d.pages)
          for (const auto& w : p.widgets)
            if (const auto* r = widget_relation(d, w, engine); !rel && r && r->column(f.column)) rel = r;
      }
      if (!rel) {
        filters_ok = false;
        error(f.pos, "filter '" + f.id + "': no column '" + f.column + "' in " + (source ? "'" + source->name + "'" : "the dashboard's sources"),
              source ? column_hint(*source, f.column) : "");
        continue;
      }
      engine::ValueKind kind = engine::value_kind(rel->column(f.column)->type);
      if (f.type == config::FilterType::DateRange && kind != engine::ValueKind::Date && kind != engine::ValueKind::Timestamp) {
        filters_ok = false;
        error(f.pos, "filter '" + f.id + "' is a daterange but column '" + f.column + "' is " + rel->column(f.column)->type,
              "use a DATE or TIMESTAMP column, or type: range");
        continue;
      }
      if (!f.default_value.is_null()) {
        // This filter's default alone, so the message lands on the filter that has the problem.
        config::DashboardSpec only = d;
        only.filters = {f};
        QueryRequest only_default;
        auto r = compile_predicates(only, *rel, only_default, "");
        if (!r) {
          filters_ok = false;
          error(f.pos, "filter '" + f.id + "': bad default: " + r.error().message, r.error().hint);
          continue;
        }
      }
      all_filters.filters[f.id] = sample_filter_value(f, kind);
    }
    for (const auto& dim : d.dimensions) {
      bool found = source && source->column(dim);
      for (const auto& p : d.pages)
        for (const auto& w : p.widgets)
          if (const auto* r = widget_relation(d, w, engine); r && r->column(dim)) found = true;
      if (!found) error(d.pos, "dimension '" + dim + "' is not a column of the dashboard's sources", source ? column_hint(*source, dim) : "");
    }
    if (!filters_ok) continue;

    for (const auto& page : d.pages) {
      for (const auto& w : page.widgets) {
        if (w.type == config::WidgetType::Text) continue;
        const engine::Relation* rel = widget_relation(d, w, engine);
        // Declared columns first: the clearest message and the exact position.
        bool columns_ok = true;
        if (rel) {
          std::vector<const config::DimensionSpec*> dims;
          for (const auto* opt : {&w.x, &w.y_dim, &w.color})
            if (*opt) dims.push_back(&**opt);
          for (const auto& c : w.columns) dims.push_back(&c);
          for (const auto* dim : dims) {
            if (!rel->column(dim->column)) {
              columns_ok = false;
              error(dim->pos, "widget '" + w.id + "': unknown column '" + dim->column + "' in '" + rel->name + "'", column_hint(*rel, dim->column));
            }
          }
        }
        if (!columns_ok) continue;
        bool measures_ok = true;
        for (size_t i = 0; rel && w.sql.empty() && i < w.measures.size(); ++i) {
          if (auto problem = check_aggregate(w, w.measures[i], *rel, engine)) {
            out.push_back(std::move(*problem));
            measures_ok = false;
          }
        }
        if (!measures_ok) continue;
        for (const QueryRequest* req : {static_cast<const QueryRequest*>(nullptr), static_cast<const QueryRequest*>(&all_filters)}) {
          QueryRequest empty;
          auto plan = plan_widget(d, w, engine, req ? *req : empty, scope);
          if (!plan) {
            error(w.pos, "widget '" + w.id + "': " + plan.error().message, plan.error().hint);
            break;
          }
          std::vector<const Statement*> statements = {&plan->data};
          if (plan->count) statements.push_back(&*plan->count);
          bool failed = false;
          for (const Statement* st : statements) {
            auto prepared = engine.pool().run<int>(engine.query_timeout(), [&](engine::Connection& c) -> Result<int> {
              auto s = c.prepare(st->sql);
              if (!s) return fail(s.error());
              if (sql_columns && !w.sql.empty() && !req && st == &plan->data) {
                auto& names = (*sql_columns)[d.id + "/" + w.id];
                names.clear();
                for (const auto& col : s->columns()) names.push_back(col.name);
              }
              return 0;
            });
            if (prepared) continue;
            failed = true;
            std::string msg = prepared.error().for_author();
            // Point at the measure that names the unknown column, when DuckDB says which.
            config::Position pos = w.pos;
            std::smatch m;
            static const std::regex missing(R"re(column "([^"]+)" not found)re");
            std::string hint = w.sql.empty() ? "" : "check the widget's sql against the columns of its sources";
            if (std::regex_search(msg, m, missing)) {
              std::string col = m[1];
              for (const auto& ms : w.measures)
                if (ms.expr.find(col) != std::string::npos) pos = ms.pos;
              if (rel) hint = column_hint(*rel, col);
            }
            std::string first_line = msg.substr(0, msg.find('\n'));
            error(pos, "widget '" + w.id + "' does not compile" + std::string(req ? " with filters applied" : "") + ": " + first_line, hint);
            break;
          }
          if (failed) break;
        }
      }
    }
  }
  config::redact_secrets(out, project.secret_values);
  return out;
}

}  // namespace sightline::query
