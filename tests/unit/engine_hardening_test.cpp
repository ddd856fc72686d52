// The engine's lock-down: once built, the connections that answer requests read only the
// project's source data, attach nothing, install or load no extension and change no setting.
// Two layers are proven separately: DuckDB's own settings (lock_down, on a plain connection)
// and the statement check of the pool's restricted connections.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/project.h"
#include "engine/engine.h"

namespace sightline::engine {
namespace {
namespace fs = std::filesystem;

constexpr const char* kPermission = "file system operations are disabled by configuration";
constexpr const char* kLocked = "the configuration has been locked";
constexpr const char* kRefused = "statements are not allowed on the engine's query connections";

std::string unique_name(const std::string& what) {
  return "sightline-hardening-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
         what;
}

class EngineHardening : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / unique_name("project");
    outside_ = fs::temp_directory_path() / unique_name("outside");
    fs::remove_all(dir_);
    fs::remove_all(outside_);
    fs::create_directories(dir_ / "data" / "parts");
    fs::create_directories(outside_);
    std::ofstream(outside_ / "secret.csv") << "secret\nhunter2\n";
  }
  void TearDown() override {
    built_ = {};
    fs::remove_all(dir_);
    fs::remove_all(outside_);
  }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  std::string data(const std::string& name) const { return (dir_ / "data" / name).string(); }
  std::string out(const std::string& name) const { return (outside_ / name).string(); }

  // A project with every kind of source: a CSV file and a Parquet glob scanned at query time, a
  // materialized Parquet file, a DuckDB file, and a model.
  const Engine& build_project(const std::string& engine_yaml = "") {
    write("data/live.csv", "id,name\n1,a\n2,b\n3,c\n");
    {
      auto db = Database::open(":memory:", {.threads = 1});
      EXPECT_TRUE(db.has_value());
      auto c = Connection::open(**db);
      EXPECT_TRUE(
          (*c)->execute("COPY (SELECT range AS id FROM range(10)) TO " + quote_literal(data("parts/p1.parquet")) + " (FORMAT parquet)"));
      EXPECT_TRUE((*c)->execute("COPY (SELECT range AS id, 'k' || (range % 3) AS k FROM range(50)) TO " +
                                quote_literal(data("mat.parquet")) + " (FORMAT parquet)"));
      EXPECT_TRUE((*c)->execute("ATTACH " + quote_literal(data("warehouse.duckdb")) + " AS w"));
      EXPECT_TRUE((*c)->execute("CREATE TABLE w.sales AS SELECT range AS id FROM range(7)"));
    }
    write("sightline.yaml", engine_yaml + R"yaml(sources:
  live: data/live.csv
  parts: {path: "data/parts/*.parquet"}
  mat: {path: data/mat.parquet, materialize: true}
  warehouse: {path: data/warehouse.duckdb, table: sales}
models:
  big_parts: SELECT * FROM parts WHERE id > 4
)yaml");
    auto loaded = config::load_project(dir_, config::system_environment());
    EXPECT_TRUE(loaded.ok()) << (loaded.diagnostics.empty() ? "" : config::format_diagnostic(loaded.diagnostics[0]));
    project_ = std::move(*loaded.project);
    built_ = Engine::build(project_);
    EXPECT_TRUE(built_.engine) << (built_.diagnostics.empty() ? "" : config::format_diagnostic(built_.diagnostics[0]));
    return *built_.engine;
  }

  // Runs `sql` on one of the engine's pooled connections.
  Result<QueryOutput> run(const std::string& sql) {
    return built_.engine->pool().run<QueryOutput>(std::chrono::seconds(30), [&](Connection& c) { return c.query(sql, 1000); });
  }
  Result<QueryOutput> run_prepared(const std::string& sql, const std::vector<Param>& params) {
    return built_.engine->pool().run<QueryOutput>(std::chrono::seconds(30), [&](Connection& c) -> Result<QueryOutput> {
      auto st = c.prepare(sql);
      if (!st) return fail(st.error());
      return st->execute(params, 1000);
    });
  }
  // The first cell of `sql`'s answer as text.
  std::string scalar(const std::string& sql) {
    auto r = run("SELECT CAST((" + sql + ") AS VARCHAR)");
    EXPECT_TRUE(r.has_value()) << sql << ": " << (r ? "" : r.error().message);
    if (!r || r->table.num_rows == 0) return "<error>";
    const ArrowArray* col = r->table.batches[0]->children[0];
    const auto* offsets = static_cast<const int32_t*>(col->buffers[1]);
    const char* chars = static_cast<const char*>(col->buffers[2]);
    return std::string(chars + offsets[0], chars + offsets[1]);
  }
  int64_t count(const std::string& from) { return std::stoll(scalar("SELECT count(*) FROM " + from)); }

  fs::path dir_, outside_;
  config::Project project_;
  EngineBuild built_;
};

// Expects `r` to have failed with `kind` and an explanation holding `text` (DuckDB's words are
// the error's detail; its public message never quotes them).
#define EXPECT_FAILS_WITH(r, expected_kind, text)                                                    \
  do {                                                                                               \
    const auto& _r = (r);                                                                            \
    ASSERT_FALSE(_r.has_value()) << "should have failed";                                            \
    EXPECT_EQ(_r.error().kind, expected_kind) << _r.error().for_author();                            \
    EXPECT_NE(_r.error().for_author().find(text), std::string::npos) << _r.error().for_author();     \
  } while (0)

// --- DuckDB's own settings: lock_down on a plain (unrestricted) connection ------------------------

TEST_F(EngineHardening, LockDownMakesDuckDBRefuseOtherFilesExtensionsAndSettings) {
  auto db = Database::open(":memory:", {.threads = 1});
  ASSERT_TRUE(db.has_value());
  auto conn = Connection::open(**db);
  ASSERT_TRUE(conn.has_value());
  Connection& c = **conn;
  write("data/inside.csv", "x\n1\n2\n");
  ASSERT_TRUE(c.query("SELECT count(*) FROM read_csv(" + quote_literal(out("secret.csv")) + ")", 1).has_value()) << "readable before";
  auto locked = lock_down(c, {.directories = {dir_ / "data"}, .files = {}});
  ASSERT_TRUE(locked.has_value()) << locked.error().message;
  auto later = Connection::open(**db);  // settings are database-wide: a later connection is locked too
  ASSERT_TRUE(later.has_value());
  for (Connection* k : {&c, later->get()}) {
    EXPECT_FALSE(k->restricted());
    EXPECT_TRUE(k->query("SELECT count(*) FROM read_csv(" + quote_literal(data("inside.csv")) + ")", 1).has_value());
    EXPECT_FAILS_WITH(k->query("SELECT * FROM read_csv(" + quote_literal(out("secret.csv")) + ")", 10), ErrorKind::Internal, kPermission);
    EXPECT_FAILS_WITH(k->query("SELECT * FROM read_csv('/etc/passwd')", 10), ErrorKind::Internal, kPermission);
    EXPECT_FAILS_WITH(k->execute("INSTALL httpfs"), ErrorKind::Internal, "Permission Error");
    EXPECT_FAILS_WITH(k->execute("LOAD httpfs"), ErrorKind::Internal, "Loading external extensions is disabled");
    EXPECT_FAILS_WITH(k->execute("SET threads = 1"), ErrorKind::SourceFailed, kLocked);
    EXPECT_FAILS_WITH(k->execute("SET memory_limit = '1GB'"), ErrorKind::SourceFailed, kLocked);
    EXPECT_FAILS_WITH(k->execute("RESET memory_limit"), ErrorKind::SourceFailed, kLocked);
    EXPECT_FAILS_WITH(k->execute("SET enable_external_access = true"), ErrorKind::SourceFailed, kLocked);
    EXPECT_FAILS_WITH(k->execute("SET allowed_directories = ['/']"), ErrorKind::SourceFailed, kLocked);
    EXPECT_FAILS_WITH(k->execute("SET lock_configuration = false"), ErrorKind::SourceFailed, kLocked);
    EXPECT_FAILS_WITH(k->execute("ATTACH " + quote_literal(out("new.duckdb")) + " AS n"), ErrorKind::Internal, kPermission);
    EXPECT_FAILS_WITH(k->execute("COPY (SELECT 1) TO " + quote_literal(out("copy.csv"))), ErrorKind::Internal, kPermission);
  }
  EXPECT_FALSE(fs::exists(outside_ / "new.duckdb"));
  EXPECT_FALSE(fs::exists(outside_ / "copy.csv"));
}

// Why the pool's connections are restricted too: DuckDB (1.4) has no setting that refuses ATTACH
// or COPY TO inside an allowed directory, nor ATTACH ':memory:'. If this test starts failing, a
// DuckDB upgrade closed the gap (and the statement check became a second layer only).
TEST_F(EngineHardening, DuckDBAloneStillAttachesAndWritesInsideTheSandbox) {
  auto db = Database::open(":memory:", {.threads = 1});
  ASSERT_TRUE(db.has_value());
  auto conn = Connection::open(**db);
  ASSERT_TRUE(conn.has_value());
  Connection& c = **conn;
  ASSERT_TRUE(lock_down(c, {.directories = {dir_ / "data"}, .files = {}}).has_value());
  EXPECT_TRUE(c.execute("ATTACH " + quote_literal(data("made.duckdb")) + " AS made").has_value());
  EXPECT_TRUE(c.execute("ATTACH ':memory:' AS mem").has_value());
  EXPECT_TRUE(c.execute("COPY (SELECT 1) TO " + quote_literal(data("written.csv"))).has_value());
  EXPECT_TRUE(fs::exists(dir_ / "data" / "written.csv"));

  auto restricted = Connection::open(**db);
  ASSERT_TRUE(restricted.has_value());
  (*restricted)->restrict_statements();
  EXPECT_FAILS_WITH((*restricted)->execute("ATTACH " + quote_literal(data("made2.duckdb")) + " AS made2"), ErrorKind::Forbidden,
                    std::string("ATTACH ") + kRefused);
  EXPECT_FAILS_WITH((*restricted)->execute("ATTACH ':memory:' AS mem2"), ErrorKind::Forbidden, std::string("ATTACH ") + kRefused);
  EXPECT_FAILS_WITH((*restricted)->execute("COPY (SELECT 1) TO " + quote_literal(data("written2.csv"))), ErrorKind::Forbidden,
                    std::string("COPY ") + kRefused);
  EXPECT_FALSE(fs::exists(dir_ / "data" / "made2.duckdb"));
  EXPECT_FALSE(fs::exists(dir_ / "data" / "written2.csv"));
}

TEST_F(EngineHardening, LockDownRefusesToAllowTheWholeFilesystem) {
  auto db = Database::open(":memory:", {.threads = 1});
  ASSERT_TRUE(db.has_value());
  auto conn = Connection::open(**db);
  ASSERT_TRUE(conn.has_value());
  EXPECT_FALSE(lock_down(**conn, {.directories = {"/"}, .files = {}}).has_value());
  EXPECT_FALSE(lock_down(**conn, {.directories = {"/tmp/.."}, .files = {}}).has_value());
  EXPECT_FALSE(lock_down(**conn, {.directories = {"data"}, .files = {}}).has_value());
  // Nothing was changed by the refused calls.
  EXPECT_TRUE((*conn)->execute("SET threads = 1").has_value());
}

// --- What the engine's sandbox holds ---------------------------------------------------------------

TEST_F(EngineHardening, SandboxHoldsOnlyWhatSourcesReadAtQueryTime) {
  fs::create_directories(dir_ / "data" / "orders");
  write("data/one.csv", "a\n1\n");
  auto source = [](std::string path, config::SourceFormat format, bool materialize = false) {
    config::SourceSpec s;
    s.name = "s";
    s.path = std::move(path);
    s.format = format;
    s.materialize = materialize;
    return s;
  };
  Sandbox sb;
  ASSERT_TRUE(allow_source(sb, source("data/orders/**/*.parquet", config::SourceFormat::Parquet), dir_));
  ASSERT_TRUE(allow_source(sb, source("data/orders", config::SourceFormat::Parquet), dir_));
  ASSERT_TRUE(allow_source(sb, source("data/./x/../one.csv", config::SourceFormat::Csv), dir_));
  ASSERT_TRUE(allow_source(sb, source("/srv/shared/2024-*/events.jsonl", config::SourceFormat::Json), dir_));
  ASSERT_TRUE(allow_source(sb, source("data/big/*.parquet", config::SourceFormat::Parquet, /*materialize=*/true), dir_));
  ASSERT_TRUE(allow_source(sb, source("data/w.duckdb", config::SourceFormat::DuckDB), dir_));
  EXPECT_EQ(sb.directories, (std::vector<fs::path>{dir_ / "data" / "orders", dir_ / "data" / "orders", "/srv/shared"}));
  EXPECT_EQ(sb.files, (std::vector<fs::path>{dir_ / "data" / "one.csv"}));

  auto root = allow_source(sb, source("/*/secrets.csv", config::SourceFormat::Csv), dir_);
  EXPECT_FAILS_WITH(root, ErrorKind::InvalidInput, "would let the engine read the whole filesystem");
  auto climbing = allow_source(sb, source("../../../../../../../../*.csv", config::SourceFormat::Csv), dir_);
  EXPECT_FAILS_WITH(climbing, ErrorKind::InvalidInput, "would let the engine read the whole filesystem");
}

// --- The engine's pooled connections ----------------------------------------------------------------

TEST_F(EngineHardening, PooledConnectionsCannotReadOutsideTheSourceData) {
  build_project();
  ASSERT_TRUE(built_.engine);
  EXPECT_FAILS_WITH(run("SELECT * FROM read_csv(" + quote_literal(out("secret.csv")) + ")"), ErrorKind::Internal, kPermission);
  EXPECT_FAILS_WITH(run("SELECT * FROM read_csv('/etc/passwd', sep = ':')"), ErrorKind::Internal, kPermission);
  EXPECT_FAILS_WITH(run("SELECT * FROM read_text('/etc/passwd')"), ErrorKind::Internal, kPermission);
  EXPECT_FAILS_WITH(run("SELECT * FROM glob('/etc/*')"), ErrorKind::Internal, kPermission);
  EXPECT_FAILS_WITH(run("SELECT * FROM " + quote_literal(out("secret.csv"))), ErrorKind::Internal, "secret.csv");
  // `..` does not climb out: the project's own configuration is not data.
  EXPECT_FAILS_WITH(run("SELECT * FROM read_text(" + quote_literal(data("parts/../../sightline.yaml")) + ")"), ErrorKind::Internal,
                    kPermission);
  // A single-file source opens that file, not its folder.
  write("data/beside.csv", "x\n1\n");
  EXPECT_FAILS_WITH(run("SELECT * FROM read_csv(" + quote_literal(data("beside.csv")) + ")"), ErrorKind::Internal, kPermission);
  // Files of materialized sources were loaded before the lock and are closed now.
  EXPECT_FAILS_WITH(run("SELECT * FROM read_parquet(" + quote_literal(data("mat.parquet")) + ")"), ErrorKind::Internal, kPermission);
  // No network, and no extension loaded behind the query's back to reach it.
  EXPECT_FAILS_WITH(run("SELECT * FROM read_csv('https://example.com/x.csv')"), ErrorKind::Internal, kPermission);
  EXPECT_FAILS_WITH(run("SELECT * FROM read_parquet('s3://bucket/x.parquet')"), ErrorKind::Internal, kPermission);
  // The same through the prepared path the query service uses.
  EXPECT_FAILS_WITH(run_prepared("SELECT * FROM read_csv(" + quote_literal(out("secret.csv")) + ") WHERE ? ", {true}),
                    ErrorKind::Internal, kPermission);
}

TEST_F(EngineHardening, PooledConnectionsCannotInstallLoadOrChangeSettings) {
  build_project();
  ASSERT_TRUE(built_.engine);
  EXPECT_FAILS_WITH(run("INSTALL httpfs"), ErrorKind::Forbidden, std::string("INSTALL/LOAD ") + kRefused);
  EXPECT_FAILS_WITH(run("LOAD httpfs"), ErrorKind::Forbidden, std::string("INSTALL/LOAD ") + kRefused);
  EXPECT_FAILS_WITH(run("LOAD " + quote_literal(out("evil.duckdb_extension"))), ErrorKind::Forbidden,
                    std::string("INSTALL/LOAD ") + kRefused);
  for (const char* sql :
       {"SET enable_external_access = true", "SET threads = 1", "SET memory_limit = '100GB'", "SET lock_configuration = false",
        "RESET memory_limit", "SET search_path = 'main'", "USE memory", "SET GLOBAL threads = 1", "SET SESSION TimeZone = 'UTC'"}) {
    EXPECT_FAILS_WITH(run(sql), ErrorKind::Forbidden, std::string("SET/RESET/USE ") + kRefused);
  }
  EXPECT_FAILS_WITH(run("PRAGMA threads = 1"), ErrorKind::Forbidden, kRefused);
  EXPECT_FAILS_WITH(run("PRAGMA enable_profiling"), ErrorKind::Forbidden, std::string("PRAGMA ") + kRefused);
  EXPECT_FAILS_WITH(run("SET VARIABLE v = 1"), ErrorKind::Forbidden, kRefused);
  EXPECT_FAILS_WITH(run("CALL enable_logging(storage = 'file', storage_path = " + quote_literal(data("logs")) + ")"), ErrorKind::Forbidden,
                    std::string("CALL ") + kRefused);
  // Behind the statement check, DuckDB's own settings are locked as well.
  EXPECT_EQ(scalar("current_setting('enable_external_access')"), "false");
  EXPECT_EQ(scalar("current_setting('lock_configuration')"), "true");
  EXPECT_EQ(scalar("current_setting('autoinstall_known_extensions')"), "false");
  EXPECT_EQ(scalar("current_setting('autoload_known_extensions')"), "false");
  EXPECT_EQ(scalar("current_setting('allow_community_extensions')"), "false");
  // The single-file source, and the attached DuckDB file (DuckDB adds attached files itself).
  std::string paths = scalar("current_setting('allowed_paths')");
  EXPECT_NE(paths.find(data("live.csv") + "/"), std::string::npos) << paths;
  EXPECT_NE(paths.find(data("warehouse.duckdb") + "/"), std::string::npos) << paths;
  EXPECT_EQ(paths.find("mat.parquet"), std::string::npos) << "materialized: loaded before the lock; " << paths;
  std::string dirs = scalar("current_setting('allowed_directories')");
  EXPECT_NE(dirs.find(data("parts") + "/"), std::string::npos) << dirs;
  EXPECT_NE(dirs.find("sightline-spill-"), std::string::npos) << dirs;
  EXPECT_EQ(dirs.find(dir_.string() + "/,"), std::string::npos) << "never the project folder itself: " << dirs;
  EXPECT_EQ(dirs.find(dir_.string() + "/]"), std::string::npos) << "never the project folder itself: " << dirs;
}

TEST_F(EngineHardening, PooledConnectionsCannotAttachCopyOrExport) {
  build_project();
  ASSERT_TRUE(built_.engine);
  const std::string attach = std::string("ATTACH ") + kRefused;
  EXPECT_FAILS_WITH(run("ATTACH " + quote_literal(out("new.duckdb")) + " AS n"), ErrorKind::Forbidden, attach);
  EXPECT_FAILS_WITH(run("ATTACH " + quote_literal(data("new.duckdb")) + " AS n"), ErrorKind::Forbidden, attach);
  EXPECT_FAILS_WITH(run("ATTACH " + quote_literal(data("warehouse.duckdb")) + " AS again (READ_ONLY)"), ErrorKind::Forbidden, attach);
  EXPECT_FAILS_WITH(run("ATTACH ':memory:' AS m"), ErrorKind::Forbidden, attach);
  EXPECT_FAILS_WITH(run("DETACH src_warehouse"), ErrorKind::Forbidden, std::string("DETACH ") + kRefused);
  // COPY and EXPORT name their target when DuckDB prepares them, so outside the sandbox DuckDB
  // refuses them first; inside it, only the statement check does.
  EXPECT_FAILS_WITH(run("COPY (SELECT 1) TO " + quote_literal(out("copy.csv"))), ErrorKind::Internal, kPermission);
  EXPECT_FAILS_WITH(run("EXPORT DATABASE " + quote_literal(out("export"))), ErrorKind::Internal, kPermission);
  EXPECT_FAILS_WITH(run("COPY live TO " + quote_literal(data("parts/copy.parquet"))), ErrorKind::Forbidden,
                    std::string("COPY ") + kRefused);
  EXPECT_FAILS_WITH(run("EXPORT DATABASE " + quote_literal(data("parts/export"))), ErrorKind::Forbidden,
                    std::string("EXPORT DATABASE ") + kRefused);
  EXPECT_FAILS_WITH(run("PREPARE sneaky AS SELECT 1"), ErrorKind::Forbidden, std::string("PREPARE ") + kRefused);
  // Each statement of a batch is checked before it runs, so nothing after an allowed one slips by.
  EXPECT_FAILS_WITH(run("SELECT 1; ATTACH ':memory:' AS m2; SELECT 2"), ErrorKind::Forbidden, attach);
  // And through prepare(), the query service's path.
  EXPECT_FAILS_WITH(run_prepared("ATTACH ':memory:' AS m3", {}), ErrorKind::Forbidden, attach);
  // A statement DuckDB runs whole through a table function is still only a SELECT.
  EXPECT_FALSE(run("SELECT * FROM query('ATTACH '':memory:'' AS m4')").has_value());
  // Only what the engine attached itself: the source's file and its scratch database for subsets.
  EXPECT_EQ(scalar("SELECT string_agg(database_name, ',' ORDER BY database_name) FROM duckdb_databases() WHERE NOT internal"),
            "memory,sightline_scratch,src_warehouse");
  EXPECT_FALSE(fs::exists(outside_ / "new.duckdb"));
  EXPECT_FALSE(fs::exists(dir_ / "data" / "new.duckdb"));
  EXPECT_FALSE(fs::exists(outside_ / "copy.csv"));
  EXPECT_FALSE(fs::exists(dir_ / "data" / "parts" / "copy.parquet"));
  EXPECT_FALSE(fs::exists(outside_ / "export")) << "EXPORT DATABASE made its folder outside the sandbox";
  // Known, harmless: DuckDB makes EXPORT's folder while preparing the statement, before its kind
  // can be checked, so inside the sandbox an empty folder may appear. Nothing is written in it.
  if (fs::exists(dir_ / "data" / "parts" / "export")) {
    EXPECT_TRUE(fs::is_empty(dir_ / "data" / "parts" / "export"));
  }
  EXPECT_EQ(count("parts"), 10) << "the glob still reads only the Parquet files";
}

TEST_F(EngineHardening, SourcesAndTheEnginesOwnTablesStillWork) {
  build_project();
  ASSERT_TRUE(built_.engine);
  EXPECT_EQ(count("live"), 3);       // CSV read at query time
  EXPECT_EQ(count("parts"), 10);     // Parquet glob read at query time
  EXPECT_EQ(count("mat"), 50);       // materialized
  EXPECT_EQ(count("warehouse"), 7);  // DuckDB file attached before the lock
  EXPECT_EQ(count("big_parts"), 5);  // model over a scanned source
  // The sandbox is the glob's folder, not a list of files: a file that lands there later is read.
  {
    auto db = Database::open(":memory:", {.threads = 1});
    ASSERT_TRUE(db.has_value());
    auto c = Connection::open(**db);
    ASSERT_TRUE(
        (*c)->execute("COPY (SELECT range AS id FROM range(5)) TO " + quote_literal(data("parts/p2.parquet")) + " (FORMAT parquet)"));
  }
  EXPECT_EQ(count("parts"), 15);
  // Reading a source's own file directly is allowed (it is the source's data).
  EXPECT_EQ(count("read_csv(" + quote_literal(data("live.csv")) + ")"), 3);
  // What rollups and filtered subsets do while serving.
  ASSERT_TRUE(run("CREATE TEMP TABLE t AS SELECT * FROM live WHERE id > 1").has_value());
  EXPECT_EQ(count("t"), 2);
  ASSERT_TRUE(run("CREATE TABLE __rollup_test AS SELECT k, count(*) AS n FROM mat GROUP BY k").has_value());
  EXPECT_EQ(count("__rollup_test"), 3);
  ASSERT_TRUE(run("CREATE OR REPLACE TABLE __rollup_test AS SELECT * FROM parts").has_value());
  ASSERT_TRUE(run("DROP TABLE IF EXISTS __rollup_test").has_value());
  auto subset = run_prepared("CREATE TABLE __subset_test AS SELECT * FROM parts WHERE id < ?", {int64_t{3}});
  ASSERT_TRUE(subset.has_value()) << subset.error().message;
  EXPECT_EQ(count("__subset_test"), 6);
  auto picked = run_prepared("SELECT name FROM live WHERE id = ?", {int64_t{2}});
  ASSERT_TRUE(picked.has_value()) << picked.error().message;
  EXPECT_EQ(picked->table.num_rows, 1);
  EXPECT_TRUE(run("DESCRIBE live").has_value());
  EXPECT_TRUE(run("PRAGMA table_info('live')").has_value());
  EXPECT_TRUE(run("EXPLAIN SELECT * FROM live").has_value());
}

TEST_F(EngineHardening, QueriesStillSpillToTheEnginesTempFolder) {
  build_project("engine: {memory_limit: 64MB, threads: 1}\n");
  ASSERT_TRUE(built_.engine);
  // About 250 MB of sort keys under a 64 MB limit: this only finishes by spilling to disk.
  auto sorted = run("SELECT count(*) FROM (SELECT md5(range::VARCHAR) || md5((range + 1)::VARCHAR) AS s FROM range(3000000) ORDER BY s)");
  ASSERT_TRUE(sorted.has_value()) << sorted.error().message;
}

}  // namespace
}  // namespace sightline::engine
