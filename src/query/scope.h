// Row scope: which rows of each source and model the caller may see.
//
//   Scope dev = Scope::local_development();                 // auth mode none: every row
//   Scope s = Scope::restricted({{"orders", region_is_north}}, {"orders/north"});
//   s.predicate_for("orders");     // region = ?  (with its parameter)
//   s.predicate_for("customers");  // FALSE: not listed, so no rows
//
// Every path to data takes a `const Scope&`; there is no overload without one, so an unscoped
// query cannot be written by accident. A restricted scope denies by default: a relation it does
// not list reads no rows. Immutable and safe to share between threads.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/duckdb.h"
#include "query/grain.h"

namespace sightline::query {

// A piece of SQL with its `?` parameters, in order.
struct SqlFragment {
  std::string sql;
  std::vector<engine::Param> params;
  std::vector<std::string> columns;  // the columns the SQL reads (for choosing a pre-aggregate)
  // The coarsest grain of its column at which the predicate still selects exactly the same rows:
  // Day for a range of whole days on a date or timestamp, Month when the days are whole months
  // (from the 1st to a month's last day, ends open or not), Exact for anything else.
  Grain coarsest_grain = Grain::Exact;
  // For a range of whole days on a date or timestamp column: its first and last day, inclusive
  // ("YYYY-MM-DD"; "" for an open end). Lets a planner split it into whole months and the days
  // around them.
  std::string first_day, last_day;
  // For a range over a number (filter or selection): its ends as numbers (absent: open), so a
  // planner can tell whether they are bin edges (query/bins.h).
  std::optional<double> range_low, range_high;
  bool numeric_range = false;
  // For row policies: `columns` lists every column the predicate reads, so a pre-aggregate
  // grouped by those columns answers it exactly.
  bool columns_known = false;
  // For a few values of a column stored as an ENUM, far apart in its order: each value's own
  // equality, as SQL with one placeholder and its value. The rows the predicate keeps are exactly
  // the union of the rows each equality keeps, and no row is kept by two of them. Empty for
  // anything else.
  std::vector<std::pair<std::string, engine::Param>> equalities;
  bool empty() const { return sql.empty(); }
};

// Canonical text of parameters, for cache keys: type tag, length-prefixed strings, exact doubles.
std::string params_key(const std::vector<engine::Param>& params);

class Scope {
 public:
  // Every row of every source: for auth mode `none` (local development) only.
  static Scope local_development() { return Scope("local-development", {}, {}, false); }

  // A signed-in caller's scope. `readable` maps each relation the caller may read to the
  // predicate selecting its rows (an empty fragment: every row). Relations not in the map read
  // no rows. `policies` names what was applied (e.g. "orders/north"), for the audit log.
  static Scope restricted(std::map<std::string, SqlFragment, std::less<>> readable, std::vector<std::string> policies);

  // Identifies the effective row scope; part of every cache key so answers never cross scopes.
  const std::string& key() const { return key_; }

  // The predicate restricting `relation`: empty for every row, "FALSE" when none are granted.
  SqlFragment predicate_for(std::string_view relation) const;

  // True only for local development: no relation is restricted.
  bool unrestricted() const { return !restricted_; }

  // The relations a restricted scope lists (with or without a predicate).
  const std::map<std::string, SqlFragment, std::less<>>& readable() const { return readable_; }

  // The policies that make up this scope ("relation/role"), for the audit log.
  const std::vector<std::string>& policies() const { return policies_; }

 private:
  Scope(std::string key, std::map<std::string, SqlFragment, std::less<>> readable, std::vector<std::string> policies, bool restricted)
      : key_(std::move(key)), readable_(std::move(readable)), policies_(std::move(policies)), restricted_(restricted) {}
  std::string key_;
  std::map<std::string, SqlFragment, std::less<>> readable_;
  std::vector<std::string> policies_;
  bool restricted_ = false;
};

}  // namespace sightline::query
