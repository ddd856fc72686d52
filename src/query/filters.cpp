#include <algorithm>
#include <chrono>
#include <regex>

#include "query/request.h"

namespace sightline::query {
using engine::Param;
using engine::ValueKind;
using nlohmann::json;

namespace {

std::string json_kind(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "true/false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    case json::value_t::string:
      return "text";
    case json::value_t::array:
      return "a list";
    case json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}

const char* kind_name(ValueKind k) {
  switch (k) {
    case ValueKind::Text:
      return "text";
    case ValueKind::Integer:
      return "a whole number";
    case ValueKind::Float:
    case ValueKind::Decimal:
      return "a number";
    case ValueKind::Boolean:
      return "true/false";
    case ValueKind::Date:
      return "a date (YYYY-MM-DD)";
    case ValueKind::Timestamp:
      return "a date or timestamp (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)";
    case ValueKind::Other:
      return "a value";
  }
  return "a value";
}

bool valid_date(const std::string& s) {
  static const std::regex re(R"(([0-9]{4})-([0-9]{2})-([0-9]{2}))");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return false;
  int y = std::stoi(m[1]), mo = std::stoi(m[2]), d = std::stoi(m[3]);
  if (y < 1 || mo < 1 || mo > 12 || d < 1) return false;
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= days[mo - 1] + (mo == 2 && leap ? 1 : 0);
}

// "2024-02-28" -> "2024-02-29" (for a valid YYYY-MM-DD).
std::string next_day(const std::string& date) {
  using namespace std::chrono;
  year_month_day ymd{year{std::stoi(date.substr(0, 4))}, month{static_cast<unsigned>(std::stoi(date.substr(5, 2)))},
                     day{static_cast<unsigned>(std::stoi(date.substr(8, 2)))}};
  year_month_day next{sys_days{ymd} + days{1}};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(next.year()), static_cast<unsigned>(next.month()),
                static_cast<unsigned>(next.day()));
  return buf;
}

bool valid_timestamp(const std::string& s) {
  if (s.size() == 10) return valid_date(s);
  static const std::regex re(
      R"(([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)");
  std::smatch m;
  return std::regex_match(s, m, re) && valid_date(m[1]);
}

Result<void> check_text(const std::string& s, const std::string& what) {
  if (s.size() > kMaxTextBytes) {
    return fail(ErrorKind::InvalidInput, what + ": text is longer than " + std::to_string(kMaxTextBytes) + " bytes");
  }
  if (s.find('\0') != std::string::npos) return fail(ErrorKind::InvalidInput, what + ": text contains a NUL character");
  return {};
}

int compare_params(const Param& a, const Param& b) {
  if (a.index() != b.index()) return 0;  // mixed kinds are compared by the engine, not here
  return std::visit(
      [&](const auto& x) -> int {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>)
          return 0;
        else {
          const T& y = std::get<T>(b);
          return x < y ? -1 : (y < x ? 1 : 0);
        }
      },
      a);
}

}  // namespace

std::string placeholder_for(ValueKind kind) {
  switch (kind) {
    case ValueKind::Date:
      return "CAST(? AS DATE)";
    case ValueKind::Timestamp:
      return "CAST(? AS TIMESTAMP)";
    default:
      return "?";
  }
}

std::string placeholder_for(ValueKind kind, std::string_view column_type) {
  // A nanosecond column compares with nanosecond values: TIMESTAMP would cut them to microseconds.
  if (kind == ValueKind::Timestamp && (column_type == "TIMESTAMP_NS" || column_type == "timestamp_ns")) return "CAST(? AS TIMESTAMP_NS)";
  return placeholder_for(kind);
}

Result<Param> to_param(const json& v, ValueKind kind, const std::string& what) {
  auto wrong = [&] { return fail(ErrorKind::InvalidInput, what + ": expected " + kind_name(kind) + ", got " + json_kind(v)); };
  switch (kind) {
    case ValueKind::Text:
    case ValueKind::Other:
      if (!v.is_string()) return wrong();
      if (auto r = check_text(v.get_ref<const std::string&>(), what); !r) return fail(r.error());
      return Param{v.get<std::string>()};
    case ValueKind::Integer:
      if (v.is_number_integer()) return Param{v.get<int64_t>()};
      if (v.is_number_float()) {
        double d = v.get<double>();
        if (d == static_cast<double>(static_cast<int64_t>(d))) return Param{static_cast<int64_t>(d)};
        return Param{d};  // a fractional bound on an integer column is still a meaningful bound
      }
      return wrong();
    case ValueKind::Float:
    case ValueKind::Decimal:
      if (v.is_number()) {
        double d = v.get<double>();
        if (!std::isfinite(d)) return wrong();
        return Param{d};
      }
      return wrong();
    case ValueKind::Boolean:
      if (!v.is_boolean()) return wrong();
      return Param{v.get<bool>()};
    case ValueKind::Date:
      if (!v.is_string() || !valid_date(v.get<std::string>())) {
        if (v.is_string())
          return fail(ErrorKind::InvalidInput, what + ": '" + v.get<std::string>().substr(0, 40) + "' is not a valid date; use YYYY-MM-DD");
        return wrong();
      }
      return Param{v.get<std::string>()};
    case ValueKind::Timestamp:
      if (!v.is_string() || !valid_timestamp(v.get<std::string>())) {
        if (v.is_string())
          return fail(ErrorKind::InvalidInput, what + ": '" + v.get<std::string>().substr(0, 40) +
                                                   "' is not a valid timestamp; use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS");
        return wrong();
      }
      return Param{v.get<std::string>()};
  }
  return wrong();
}

Result<QueryRequest> parse_query_request(const json& body) {
  QueryRequest req;
  if (body.is_null()) return req;
  if (!body.is_object()) return fail(ErrorKind::InvalidInput, "the request body must be a JSON object");
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    if (key != "filters" && key != "selections" && key != "sort" && key != "offset" && key != "limit") {
      return fail(ErrorKind::InvalidInput, "unknown field '" + key.substr(0, 64) + "' in the request body",
                  "allowed: filters, selections, sort, offset, limit");
    }
  }
  if (body.contains("filters")) {
    const auto& f = body["filters"];
    if (!f.is_object() && !f.is_null()) return fail(ErrorKind::InvalidInput, "'filters' must be an object of filter id -> value");
    if (f.is_object()) req.filters = f;
  }
  if (body.contains("selections")) {
    const auto& s = body["selections"];
    if (!s.is_array()) return fail(ErrorKind::InvalidInput, "'selections' must be a list");
    if (s.size() > kMaxSelections)
      return fail(ErrorKind::InvalidInput, "at most " + std::to_string(kMaxSelections) + " selections per request");
    for (const auto& e : s) {
      if (!e.is_object() || !e.contains("column") || !e["column"].is_string()) {
        return fail(ErrorKind::InvalidInput, "each selection needs a 'column' (text)",
                    R"(e.g. {"column": "region", "values": ["North"]} or {"column": "units", "range": [1, 5]})");
      }
      Selection sel;
      sel.column = e["column"].get<std::string>();
      if (e.contains("widget")) {
        if (!e["widget"].is_string()) return fail(ErrorKind::InvalidInput, "a selection's 'widget' must be text");
        sel.widget = e["widget"].get<std::string>();
      }
      for (auto it = e.begin(); it != e.end(); ++it) {
        if (it.key() != "column" && it.key() != "values" && it.key() != "range" && it.key() != "widget")
          return fail(ErrorKind::InvalidInput, "unknown field '" + it.key().substr(0, 64) + "' in a selection",
                      "allowed: column, values, range, widget");
      }
      bool has_values = e.contains("values"), has_range = e.contains("range");
      if (has_values == has_range)
        return fail(ErrorKind::InvalidInput, "selection on '" + sel.column.substr(0, 64) + "' needs exactly one of 'values' or 'range'");
      if (has_values) {
        const auto& v = e["values"];
        if (!v.is_array()) return fail(ErrorKind::InvalidInput, "a selection's 'values' must be a list");
        if (v.size() > kMaxListValues)
          return fail(ErrorKind::InvalidInput, "a selection may pick at most " + std::to_string(kMaxListValues) + " values");
        for (const auto& x : v) sel.values.push_back(x);
      } else {
        const auto& r = e["range"];
        if (!r.is_array() || r.size() != 2) return fail(ErrorKind::InvalidInput, "a selection's 'range' must be [low, high]");
        sel.range = std::make_pair(r[0], r[1]);
      }
      req.selections.push_back(std::move(sel));
    }
  }
  if (body.contains("sort")) {
    const auto& s = body["sort"];
    if (!s.is_array()) return fail(ErrorKind::InvalidInput, "'sort' must be a list of {\"column\": C, \"desc\": true|false}");
    if (s.size() > 16) return fail(ErrorKind::InvalidInput, "at most 16 sort keys");
    for (const auto& e : s) {
      if (!e.is_object() || !e.contains("column") || !e["column"].is_string())
        return fail(ErrorKind::InvalidInput, "each sort key needs a 'column' (text)");
      SortKey k{e["column"].get<std::string>(), false};
      if (e.contains("desc")) {
        if (!e["desc"].is_boolean()) return fail(ErrorKind::InvalidInput, "a sort key's 'desc' must be true or false");
        k.descending = e["desc"].get<bool>();
      }
      req.sort.push_back(std::move(k));
    }
  }
  auto read_int = [&](const char* key, int64_t lo, int64_t hi) -> Result<std::optional<int64_t>> {
    if (!body.contains(key) || body[key].is_null()) return std::optional<int64_t>();
    const auto& v = body[key];
    if (!v.is_number_integer()) return fail(ErrorKind::InvalidInput, std::string("'") + key + "' must be a whole number");
    int64_t n = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX) ? INT64_MAX : v.get<int64_t>();
    if (n < lo || n > hi)
      return fail(ErrorKind::InvalidInput,
                  std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return std::optional<int64_t>(n);
  };
  auto offset = read_int("offset", 0, kMaxOffset);
  if (!offset) return fail(offset.error());
  req.offset = offset->value_or(0);
  auto limit = read_int("limit", 0, kMaxLimit);
  if (!limit) return fail(limit.error());
  req.limit = *limit;
  return req;
}

namespace {

// `column BETWEEN lo AND hi` with either side open (null).
Result<std::optional<SqlFragment>> range_predicate(const std::string& col_sql, const json& lo, const json& hi, ValueKind kind,
                                                   const std::string& what, std::string_view column_type) {
  SqlFragment f;
  std::optional<Param> plo, phi;
  if (!lo.is_null()) {
    auto p = to_param(lo, kind, what + " (low end)");
    if (!p) return fail(p.error());
    plo = *p;
  }
  if (!hi.is_null()) {
    auto p = to_param(hi, kind, what + " (high end)");
    if (!p) return fail(p.error());
    phi = *p;
  }
  if (plo && phi && compare_params(*plo, *phi) > 0) {
    return fail(ErrorKind::InvalidInput, what + ": the low end is above the high end");
  }
  std::string ph = placeholder_for(kind, column_type);
  if (kind == ValueKind::Integer || kind == ValueKind::Float || kind == ValueKind::Decimal) {
    f.numeric_range = true;
    auto as_double = [](const Param& p) -> std::optional<double> {
      if (const auto* i = std::get_if<int64_t>(&p)) return static_cast<double>(*i);
      if (const auto* d = std::get_if<double>(&p)) return *d;
      return std::nullopt;
    };
    if (plo) f.range_low = as_double(*plo);
    if (phi) f.range_high = as_double(*phi);
  }
  if (plo && phi) {
    f.sql = col_sql + " BETWEEN " + ph + " AND " + ph;
    f.params = {*plo, *phi};
  } else if (plo) {
    f.sql = col_sql + " >= " + ph;
    f.params = {*plo};
  } else if (phi) {
    f.sql = col_sql + " <= " + ph;
    f.params = {*phi};
  } else {
    return std::optional<SqlFragment>();
  }
  return std::optional<SqlFragment>(std::move(f));
}

// Text values asked of a column kept as an ENUM with sorted values (engine::ColumnInfo), written as
// comparisons with values of that type: the lowest and the highest value asked for bound a range,
// and the few values inside it that were not asked for are excluded one by one. DuckDB applies
// such comparisons while it scans, on the type's small integer codes; an IN list of text (or an
// equality with text) makes it turn every row's code back into text first: 4-7x slower over 10M
// rows, 5x over a rollup. When more than a few values inside the range were not asked for, the
// codes of those asked for: `enum_code(col) IN (...)` is also applied while scanning, where DuckDB
// applies `col IN (<values of the type>)` only to rows already read with every column the
// statement needs (the top 20 streets of two zones far apart in the alphabet, 10M rows, one
// thread: 604 ms typed IN, 168 ms codes; the text IN list it turns every code into text for).
// nullopt when the column has no such type. Values the type does not hold match no row.
std::optional<SqlFragment> enum_set_predicate(const std::string& col_sql, const engine::ColumnInfo& col,
                                              const std::vector<std::string>& values) {
  constexpr size_t kMaxExclusions = 8;
  if (!col.dictionary || col.enum_type.empty()) return std::nullopt;
  const std::vector<std::string>& dict = *col.dictionary;
  std::vector<bool> asked(dict.size(), false);
  size_t lo = dict.size(), hi = 0;
  for (const auto& v : values) {
    auto it = std::lower_bound(dict.begin(), dict.end(), v);
    if (it == dict.end() || *it != v) continue;
    const size_t i = static_cast<size_t>(it - dict.begin());
    asked[i] = true;
    lo = std::min(lo, i);
    hi = std::max(hi, i);
  }
  SqlFragment f;
  if (lo == dict.size()) {
    f.sql = "FALSE";
    return f;
  }
  std::vector<size_t> excluded;
  for (size_t i = lo + 1; i < hi; ++i)
    if (!asked[i]) excluded.push_back(i);
  const std::string typed = "CAST(? AS " + col.enum_type + ")";
  if (excluded.size() > kMaxExclusions) {
    for (size_t i = lo; i <= hi; ++i) {
      if (!asked[i]) continue;
      f.sql += (f.sql.empty() ? "" : ", ") + std::string("?");
      f.params.emplace_back(static_cast<int64_t>(i));  // the value's code: its place in the sorted values
      f.equalities.emplace_back(col_sql + " = " + typed, engine::Param(dict[i]));
    }
    f.sql = "enum_code(" + col_sql + ") IN (" + f.sql + ")";
    return f;
  }
  auto compare = [&](const char* op, size_t i) {
    f.sql += (f.sql.empty() ? "" : " AND ") + col_sql + op + typed;
    f.params.emplace_back(dict[i]);
  };
  if (lo == hi) {
    compare(" = ", lo);
    return f;
  }
  if (lo > 0) compare(" >= ", lo);
  if (hi + 1 < dict.size()) compare(" <= ", hi);
  for (size_t i : excluded) compare(" <> ", i);
  if (f.sql.empty()) f.sql = col_sql + " IS NOT NULL";
  return f;
}

// `column IN (...)`; a null among the values also matches NULL.
Result<std::optional<SqlFragment>> in_predicate(const std::string& col_sql, const std::vector<json>& values, ValueKind kind,
                                                const std::string& what, const engine::ColumnInfo& col) {
  if (values.empty()) return std::optional<SqlFragment>();
  if (values.size() > kMaxListValues)
    return fail(ErrorKind::InvalidInput, what + ": at most " + std::to_string(kMaxListValues) + " values");
  SqlFragment f;
  bool with_null = false;
  std::string list;
  std::vector<std::string> texts;
  for (const auto& v : values) {
    if (v.is_null()) {
      with_null = true;
      continue;
    }
    auto p = to_param(v, kind, what);
    if (!p) return fail(p.error());
    list += (list.empty() ? "" : ", ") + placeholder_for(kind, col.type);
    if (const auto* text = std::get_if<std::string>(&*p)) texts.push_back(*text);
    f.params.push_back(*p);
  }
  if (!list.empty()) f.sql = col_sql + " IN (" + list + ")";
  if (!texts.empty() && texts.size() == f.params.size())
    if (auto coded = enum_set_predicate(col_sql, col, texts)) f = std::move(*coded);
  if (with_null) {
    f.sql = f.sql.empty() ? col_sql + " IS NULL" : "(" + f.sql + " OR " + col_sql + " IS NULL)";
    f.equalities.clear();  // NULL's rows are no equality's
  }
  return std::optional<SqlFragment>(std::move(f));
}

}  // namespace

Result<std::vector<SqlFragment>> compile_predicates(const config::DashboardSpec& d, const engine::Relation& relation,
                                                    const QueryRequest& request, std::string_view widget_id) {
  std::vector<SqlFragment> out;
  for (auto it = request.filters.begin(); it != request.filters.end(); ++it) {
    if (!d.find_filter(it.key())) {
      std::string known;
      for (const auto& f : d.filters) known += (known.empty() ? "" : ", ") + f.id;
      return fail(ErrorKind::InvalidInput, "unknown filter '" + it.key().substr(0, 64) + "'",
                  known.empty() ? "this dashboard has no filters" : "this dashboard's filters: " + known);
    }
  }
  for (const auto& f : d.filters) {
    const json& value = request.filters.contains(f.id) ? request.filters[f.id] : f.default_value;
    std::string what = "filter '" + f.id + "'";
    const engine::ColumnInfo* col = relation.column(f.column);
    if (!col) continue;
    ValueKind kind = engine::value_kind(col->type);
    std::string col_sql = engine::quote_identifier(f.column);
    if (value.is_null()) continue;
    std::optional<SqlFragment> frag;
    switch (f.type) {
      case config::FilterType::Select: {
        if (value.is_array() || value.is_object())
          return fail(ErrorKind::InvalidInput, what + " (select) takes one value, not " + json_kind(value));
        auto p = to_param(value, kind, what);
        if (!p) return fail(p.error());
        frag = SqlFragment{col_sql + " = " + placeholder_for(kind, col->type), {*p}};
        if (const auto* text = std::get_if<std::string>(&*p))
          if (auto coded = enum_set_predicate(col_sql, *col, {*text})) frag = std::move(*coded);
        break;
      }
      case config::FilterType::MultiSelect: {
        if (!value.is_array())
          return fail(ErrorKind::InvalidInput, what + " (multiselect) takes a list of values, got " + json_kind(value));
        auto r = in_predicate(col_sql, std::vector<json>(value.begin(), value.end()), kind, what, *col);
        if (!r) return fail(r.error());
        frag = std::move(*r);
        break;
      }
      case config::FilterType::Range: {
        if (!value.is_array() || value.size() != 2)
          return fail(ErrorKind::InvalidInput, what + " (range) takes [low, high], got " + json_kind(value));
        auto r = range_predicate(col_sql, value[0], value[1], kind, what, col->type);
        if (!r) return fail(r.error());
        frag = std::move(*r);
        break;
      }
      case config::FilterType::DateRange: {
        if (!value.is_object())
          return fail(ErrorKind::InvalidInput,
                      what + R"( (daterange) takes {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}, got )" + json_kind(value));
        for (auto k = value.begin(); k != value.end(); ++k)
          if (k.key() != "from" && k.key() != "to")
            return fail(ErrorKind::InvalidInput, what + ": unknown field '" + k.key().substr(0, 32) + "'", "use from and to");
        json from = value.value("from", json()), to = value.value("to", json());
        for (const json* v : {&from, &to}) {
          if (!v->is_null() && (!v->is_string() || !valid_date(v->get<std::string>())))
            return fail(ErrorKind::InvalidInput, what + ": dates must be YYYY-MM-DD, got " +
                                                     (v->is_string() ? "'" + v->get<std::string>().substr(0, 40) + "'" : json_kind(*v)));
        }
        if (!from.is_null() && !to.is_null() && from.get<std::string>() > to.get<std::string>())
          return fail(ErrorKind::InvalidInput, what + ": 'from' is after 'to'");
        // Whole days, inclusive at both ends. The bounds have the column's own type so that the
        // engine compares without casting the column (and skips row groups by their min/max).
        SqlFragment f;
        bool is_date = kind == ValueKind::Date;
        std::string bound = is_date ? "CAST(? AS DATE)" : "CAST(? AS TIMESTAMP)";
        if (!from.is_null()) {
          f.sql = col_sql + " >= " + bound;
          f.params.push_back(from.get<std::string>());
        }
        if (!to.is_null()) {
          f.sql += (f.sql.empty() ? "" : " AND ") + col_sql + (is_date ? " <= " : " < ") + bound;
          f.params.push_back(is_date ? to.get<std::string>() : next_day(to.get<std::string>()));
        }
        auto month_start = [](const json& v) { return v.is_null() || v.get<std::string>().substr(8, 2) == "01"; };
        auto month_end = [](const json& v) { return v.is_null() || next_day(v.get<std::string>()).substr(8, 2) == "01"; };
        f.coarsest_grain = month_start(from) && month_end(to) ? Grain::Month : Grain::Day;
        if (!from.is_null()) f.first_day = from.get<std::string>();
        if (!to.is_null()) f.last_day = to.get<std::string>();
        if (!f.sql.empty()) frag = std::move(f);
        break;
      }
      case config::FilterType::Text: {
        if (!value.is_string()) return fail(ErrorKind::InvalidInput, what + " (text) takes text, got " + json_kind(value));
        const auto& s = value.get_ref<const std::string&>();
        if (auto r = check_text(s, what); !r) return fail(r.error());
        if (s.empty()) break;
        // Case-insensitive "contains". When the server has already looked the search up in the
        // column's distinct values, the rows are selected by an IN list of the matches (an
        // equality test per row, and a predicate a rollup holding the column can answer).
        auto m = request.text_matches.find(f.id);
        if (m != request.text_matches.end() && request.text_matches_relation == relation.name && m->second.size() <= kMaxTextMatches) {
          SqlFragment in;
          if (m->second.empty()) {
            in.sql = "FALSE";
          } else {
            for (const auto& v : m->second) {
              in.sql += (in.sql.empty() ? "" : ", ") + std::string("?");
              in.params.push_back(v);
            }
            in.sql = col_sql + " IN (" + in.sql + ")";
            if (auto coded = enum_set_predicate(col_sql, *col, m->second)) in = std::move(*coded);
          }
          frag = std::move(in);
        } else if (auto t = request.text_match_tables.find(f.id);
                   t != request.text_match_tables.end() && request.text_matches_relation == relation.name) {
          frag = SqlFragment{col_sql + " IN (SELECT m_.v FROM " + engine::quote_identifier(t->second) +
                                 " AS m_ WHERE contains(lower(CAST(m_.v AS VARCHAR)), lower(?)))",
                             {s}};
        } else {
          frag = SqlFragment{"contains(lower(CAST(" + col_sql + " AS VARCHAR)), lower(?))", {s}};
        }
        break;
      }
    }
    if (frag) {
      frag->columns = {f.column};
      out.push_back(std::move(*frag));
    }
  }
  for (const auto& sel : request.selections) {
    std::string what = "selection on '" + sel.column.substr(0, 64) + "'";
    if (std::find(d.dimensions.begin(), d.dimensions.end(), sel.column) == d.dimensions.end()) {
      std::string dims;
      for (const auto& x : d.dimensions) dims += (dims.empty() ? "" : ", ") + x;
      return fail(ErrorKind::InvalidInput, what + ": the column is not a declared dimension of this dashboard",
                  dims.empty() ? "this dashboard declares no dimensions" : "selectable columns: " + dims);
    }
    if (!sel.widget.empty() && sel.widget == widget_id) continue;
    const engine::ColumnInfo* col = relation.column(sel.column);
    if (!col) continue;
    ValueKind kind = engine::value_kind(col->type);
    std::string col_sql = engine::quote_identifier(sel.column);
    Result<std::optional<SqlFragment>> r = sel.range ? range_predicate(col_sql, sel.range->first, sel.range->second, kind, what, col->type)
                                                     : in_predicate(col_sql, sel.values, kind, what, *col);
    if (!r) return fail(r.error());
    if (*r) {
      (*r)->columns = {sel.column};
      out.push_back(std::move(**r));
    }
  }
  return out;
}

}  // namespace sightline::query
