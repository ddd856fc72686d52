// Golden planner tests, in the manner of DuckDB's SQL logic tests: each block of a
// tests/golden/planner/*.test file names a widget and a request, and pins what the planner makes
// of it: the relation, rollup or value table read, the SQL and its parameters (or the error).
// A change of plan is then a reviewed diff of a text file, not a surprise in a benchmark.
//
// File format:
//   # comment
//   project sales rows=100000          the demo project over generated rows (fixed seed), rollups built
//   role <relation> [<columns>] <sql>  (optional) plan under a row policy on <relation> whose
//                                      predicate reads <columns> (comma-separated)
//   plan <dashboard>/<widget>          then one line of request JSON, then ----, then the
//   {"filters": {...}}                 expected lines up to a blank line
//   ----
//   read_from rollup[orders: channel order_date region]
//   data SELECT ...
//   params ["North"]
//
// Rollup and value tables are named by what they hold (their real names are random per build).
// SIGHTLINE_GOLDEN_UPDATE=1 rewrites the expected sections from what the planner does now.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "config/project.h"
#include "demo/demo_data.h"
#include "engine/engine.h"
#include "query/planner.h"
#include "query/rollup.h"
#include "query/sql_widgets.h"

namespace sightline::query {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kGoldenDir = fs::path(SIGHTLINE_SOURCE_DIR) / "tests" / "golden" / "planner";

// A demo project with generated data, loaded once per (project, rows) for the whole run.
struct LoadedProject {
  fs::path dir;
  config::Project project;
  std::shared_ptr<const engine::Engine> engine;
  std::shared_ptr<const Rollups> rollups;
  SqlWidgetEquivalents equivalents;  // own-SQL widgets planned as declarative ones, as the server does
};

std::shared_ptr<LoadedProject> load(const std::string& name, int64_t rows) {
  static std::map<std::string, std::shared_ptr<LoadedProject>> cache;
  const std::string key = name + "/" + std::to_string(rows);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto out = std::make_shared<LoadedProject>();
  out->dir = fs::temp_directory_path() / ("sightline-golden-" + std::to_string(::getpid()) + "-" + name + "-" + std::to_string(rows));
  fs::remove_all(out->dir);
  const fs::path example = fs::path(SIGHTLINE_SOURCE_DIR) / "examples" / name;
  for (const auto& entry : fs::recursive_directory_iterator(example)) {
    auto rel = fs::relative(entry.path(), example);
    if (rel.begin()->string() == "data") continue;
    if (entry.is_directory())
      fs::create_directories(out->dir / rel);
    else {
      fs::create_directories((out->dir / rel).parent_path());
      fs::copy_file(entry.path(), out->dir / rel);
    }
  }
  auto data = demo::generate_demo_data({.rows = rows, .out_dir = out->dir / "data", .seed = 7, .threads = 2});
  EXPECT_TRUE(data.has_value()) << data.error().message;
  auto loaded = config::load_project(out->dir, config::system_environment());
  EXPECT_TRUE(loaded.ok());
  out->project = std::move(*loaded.project);
  auto built = engine::Engine::build(out->project);
  EXPECT_TRUE(built.engine) << (built.diagnostics.empty() ? "" : built.diagnostics[0].message);
  out->engine = built.engine;
  static std::stringstream sink;
  static Logger log(sink);
  out->equivalents = declarative_equivalents(out->project, *out->engine);
  out->rollups = Rollups::build(with_equivalents(out->project, out->equivalents), out->engine, log);
  cache[key] = out;
  return out;
}

// Rollup, value and code tables by what they hold, e.g. rollup[orders: channel order_date:month region].
std::string describe_tables(std::string text, const Rollups& rollups) {
  std::vector<const Rollup*> all;
  for (const auto& r : rollups.all()) all.push_back(&r);
  // Longest names first: __..._12 before __..._1, which is a prefix of it.
  std::sort(all.begin(), all.end(), [](const Rollup* a, const Rollup* b) { return a->table.size() > b->table.size(); });
  for (const Rollup* r : all) {
    std::string name = "rollup[" + r->relation + ":";
    for (const auto& c : r->columns) {
      Grain g = r->grain_of(c);
      name += " " + c + (g == Grain::Exact ? "" : std::string(":") + grain_name(g));
    }
    name += "]";
    for (size_t at = text.find(r->table); at != std::string::npos; at = text.find(r->table, at)) text.replace(at, r->table.size(), name);
  }
  static const std::regex values(R"(__sightline_values_[0-9a-f]+_[0-9]+)");
  static const std::regex codes(R"(__sightline_codes_[0-9a-f]+_[0-9]+)");
  return std::regex_replace(std::regex_replace(text, values, "values[...]"), codes, "codes[...]");
}

std::string params_text(const std::vector<engine::Param>& params) {
  json out = json::array();
  for (const auto& p : params) std::visit([&](const auto& v) { out.push_back(v); }, p);
  return out.dump();
}

// What the planner makes of one block: the lines a golden file pins.
std::string plan_lines(const LoadedProject& p, const std::string& target, const std::string& request_text, const Scope& scope) {
  const auto slash = target.find('/');
  const config::DashboardSpec* dash = p.project.find_dashboard(target.substr(0, slash));
  if (!dash) return "error: no dashboard " + target + "\n";
  const config::WidgetSpec* widget = nullptr;
  for (const auto& page : dash->pages)
    for (const auto& w : page.widgets)
      if (w.id == target.substr(slash + 1)) widget = &w;
  if (!widget) return "error: no widget " + target + "\n";
  if (auto it = p.equivalents.find(target); it != p.equivalents.end()) widget = &it->second;
  auto request = parse_query_request(json::parse(request_text));
  if (!request) return std::string("error: ") + error_kind_name(request.error().kind) + ": " + request.error().message + "\n";
  auto plan = plan_widget(*dash, *widget, *p.engine, *request, scope, p.rollups.get());
  if (!plan) return std::string("error: ") + error_kind_name(plan.error().kind) + ": " + plan.error().message + "\n";
  std::string out = "read_from " + describe_tables(plan->read_from, *p.rollups) + "\n";
  auto statement = [&](const char* what, const Statement& st) {
    // One line: own SQL may span several (and hold blank lines, which end a block).
    static const std::regex space(R"(\s+)");
    out += std::string(what) + " " + std::regex_replace(describe_tables(st.sql, *p.rollups), space, " ") + "\n";
    out += std::string(what) + "_params " + params_text(st.params) + "\n";
  };
  statement("data", plan->data);
  if (plan->prelude) statement("prelude", *plan->prelude);
  if (plan->prelude_fallback) statement("prelude_fallback", *plan->prelude_fallback);
  if (plan->data_after_prelude) statement("after_prelude", *plan->data_after_prelude);
  if (plan->count) statement("count", *plan->count);
  return out;
}

struct Block {
  size_t expected_begin = 0, expected_end = 0;  // line range of the expected text in the file
  std::string expected, actual, where;
};

class PlannerGolden : public ::testing::TestWithParam<fs::path> {};

TEST_P(PlannerGolden, PlansAsPinned) {
  std::ifstream in(GetParam());
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::shared_ptr<LoadedProject> project;
  std::map<std::string, SqlFragment, std::less<>> grants;
  std::vector<Block> blocks;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty() || l[0] == '#') continue;
    std::smatch m;
    if (std::regex_match(l, m, std::regex(R"(project (\w+) rows=(\d+))"))) {
      project = load(m[1], std::stoll(m[2]));
      continue;
    }
    if (std::regex_match(l, m, std::regex(R"(role (\w+) \[([\w,]*)\] (.+))"))) {
      SqlFragment f;
      f.sql = m[3];
      std::stringstream columns(m[2]);
      for (std::string c; std::getline(columns, c, ',');) f.columns.push_back(c);
      f.columns_known = true;
      grants[m[1]] = f;
      continue;
    }
    ASSERT_TRUE(std::regex_match(l, m, std::regex(R"(plan (\S+))"))) << GetParam() << ":" << i + 1 << ": unknown line: " << l;
    ASSERT_TRUE(project) << "a `project` line comes first";
    ASSERT_LT(i + 2, lines.size());
    ASSERT_EQ(lines[i + 2], "----") << GetParam() << ":" << i + 3;
    Block b;
    b.where = GetParam().filename().string() + ":" + std::to_string(i + 1) + " " + l;
    Scope scope = grants.empty() ? Scope::local_development() : Scope::restricted(grants, {"golden"});
    b.actual = plan_lines(*project, m[1], lines[i + 1], scope);
    b.expected_begin = i + 3;
    size_t j = b.expected_begin;
    while (j < lines.size() && !lines[j].empty()) b.expected += lines[j++] + "\n";
    b.expected_end = j;
    blocks.push_back(b);
    i = j;
  }
  if (getenv("SIGHTLINE_GOLDEN_UPDATE")) {
    std::vector<std::string> out;
    size_t next = 0;
    for (const auto& b : blocks) {
      out.insert(out.end(), lines.begin() + next, lines.begin() + b.expected_begin);
      std::istringstream actual(b.actual);
      for (std::string l; std::getline(actual, l);) out.push_back(l);
      next = b.expected_end;
    }
    out.insert(out.end(), lines.begin() + next, lines.end());
    std::ofstream rewrite(GetParam());
    for (const auto& l : out) rewrite << l << "\n";
    return;
  }
  for (const auto& b : blocks) EXPECT_EQ(b.expected, b.actual) << b.where;
}

std::vector<fs::path> golden_files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kGoldenDir))
    if (e.path().extension() == ".test") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(Files, PlannerGolden, ::testing::ValuesIn(golden_files()),
                         [](const auto& info) { return info.param.stem().string(); });

}  // namespace
}  // namespace sightline::query
