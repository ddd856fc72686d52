// Data checks: the rules a source's data must satisfy each time it is read (`checks:` of a
// source, config::CheckSpec), run as SQL over the source's relation in an engine.
//
//   auto problems = validate_checks(project, engine);      // at load: columns, types, patterns
//   SourceChecks found = run_checks(engine, source, {.now_ms = now, .previous_rows = 5000});
//   if (found.failing(config::CheckSeverity::Error)) ...  // keep the last good version serving
//
// Each rule is one statement through the engine's pool. Rules over rows (not_null, unique,
// accepted_values, range, regex) count the rows that fail and take up to five distinct failing
// values as text (LIMIT bounds that part; the count is one scan). NULLs fail only not_null: the
// other row rules pass them, and unique compares rows whose key columns are all set (as SQL's
// UNIQUE does). Rules over the whole relation (row_count, freshness, schema) report what they
// found in `detail`. Identifiers are quoted; values from the YAML are bound as parameters, cast
// to the column's type; a regex pattern is a quoted literal (DuckDB compiles a constant pattern
// once, a bound one per row).
//
// Samples and details are data (a value, the newest date, the row count): the API shows them only
// to those who may refresh the source, as it does with a failed refresh's reason.
//
// Free functions over a thread-safe Engine; the results are plain values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/project.h"

namespace sightline::engine {

class Engine;
class Connection;

// What one run of a rule found.
struct CheckResult {
  std::string rule;  // CheckSpec::text: "not_null: order_id"
  config::CheckKind kind = config::CheckKind::NotNull;
  // The rule's severity, except for schema: extra columns under `extra: error` make a failure an
  // error, and a failure whose only findings are extra columns under `extra: warn` is a warning.
  config::CheckSeverity severity = config::CheckSeverity::Error;
  config::Position pos;  // where the rule was written
  bool passed = true;
  bool ran = true;  // false: its statement failed (the data could not be read, a deadline); then failed
  // Rows that fail it (rules over rows); for row_count, freshness and schema the number of findings.
  int64_t failing = 0;
  std::vector<std::string> samples;  // up to 5 distinct failing values as text; schema: its findings
  std::string detail;                // what a whole-relation rule found, or why the rule could not run
  int64_t ran_at_ms = 0;             // milliseconds since 1970

  // A failing result said in one line: "check 'not_null: order_id' failed: 3 rows"; with
  // `samples` (for the project's author), a rule over rows adds them: "...; e.g. 'Nord', 'Sud'".
  std::string failure_text(bool samples = false) const;
};

struct SourceChecks {
  std::string source;
  std::string recipe;  // the rules as written (checks_recipe): a reload that keeps them may keep these results
  std::vector<CheckResult> results;
  int failing(config::CheckSeverity severity) const;
};

struct CheckContext {
  int64_t now_ms = 0;                    // freshness is measured against it; results are stamped with it
  std::optional<int64_t> previous_rows;  // the previous version's rows (row_count max_change); none: skipped
  // Where the rules run: this connection (an append's transaction, which sees its new rows before
  // they are committed), or, when null, the engine's pool.
  Connection* connection = nullptr;
};

// The problems of every source's checks against `engine`'s catalog, each a diagnostic at the
// part of the rule it is about: unknown columns (with a did-you-mean), accepted values and range
// bounds that are not values of the column's type (or a min above the max), patterns that are not
// regular expressions, freshness over a column that is no date or timestamp, schema types DuckDB
// does not know. Sources the engine does not hold (a failed build under keep_going) are skipped.
std::vector<config::Diagnostic> validate_checks(const config::Project& project, const Engine& engine);

// Runs `source`'s rules on `engine` in the order written. A rule whose statement fails is a
// failed result (ran = false, the reason in detail) rather than an error: a check that cannot
// run must not pass.
SourceChecks run_checks(const Engine& engine, const config::SourceSpec& source, const CheckContext& context);

// The rules of `source` as written, positions included, as one string.
std::string checks_recipe(const config::SourceSpec& source);

// The rows of `relation` in `engine`: as counted at load for a table, else counted now.
std::optional<int64_t> count_rows(const Engine& engine, const std::string& relation);

const char* check_severity_name(config::CheckSeverity severity);  // "error" | "warn"

}  // namespace sightline::engine
