// Row scope: which rows of each source the caller may see.
//
// Every path to data takes a `const Scope&`; there is no overload without one, so an unscoped
// query cannot be written by accident. Until authentication lands, the only scope that can be
// made is Scope::local_development(), whose name says what it is wherever it is used.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/duckdb.h"

namespace sightline::query {

// A piece of SQL with its `?` parameters, in order.
struct SqlFragment {
  std::string sql;
  std::vector<engine::Param> params;
  std::vector<std::string> columns;  // the columns the SQL reads (for choosing a pre-aggregate)
  // True when the predicate gives the same rows over month starts as over the original dates
  // (a date range from the 1st of a month to the last day of a month, ends open or not).
  bool month_aligned = false;
  bool empty() const { return sql.empty(); }
};

class Scope {
 public:
  // Every row of every source: for auth mode `none` (local development) only.
  static Scope local_development() { return Scope("local-development"); }

  // Identifies the effective row scope; part of every cache key so answers never cross scopes.
  const std::string& key() const { return key_; }

  // The predicate restricting `relation` (empty: no restriction).
  SqlFragment predicate_for(std::string_view /*relation*/) const { return {}; }

 private:
  explicit Scope(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace sightline::query
