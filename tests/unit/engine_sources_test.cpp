#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/project.h"
#include "engine/engine.h"

namespace sightline::engine {
namespace {
namespace fs = std::filesystem;

class EngineSources : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sightline-sources-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data" / "parts");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }

  EngineBuild build() {
    auto loaded = config::load_project(dir_, config::system_environment());
    EXPECT_TRUE(loaded.ok()) << (loaded.diagnostics.empty() ? "" : config::format_diagnostic(loaded.diagnostics[0]));
    if (!loaded.ok()) return {};
    project_ = std::move(*loaded.project);
    return Engine::build(project_);
  }
  int64_t count(const Engine& e, const std::string& relation) {
    auto out = e.pool().run<QueryOutput>(std::chrono::seconds(10), [&](Connection& c) {
      return c.query("SELECT count(*)::BIGINT FROM " + quote_identifier(relation), 1);
    });
    EXPECT_TRUE(out.has_value());
    return static_cast<const int64_t*>(out->table.batches[0]->children[0]->buffers[1])[0];
  }

  fs::path dir_;
  config::Project project_;
};

TEST_F(EngineSources, EveryKindOfSourceBecomesAQueryableRelation) {
  write("data/semi.csv", "id;name;amount\n1;a;10\n2;b;20\n3;c;\n");
  write("data/parts/p1.csv", "id,kind\n1,x\n");
  write("data/parts/p2.csv", "id,kind,extra\n2,y,z\n");
  write("data/events.jsonl", "{\"id\": 1, \"tag\": \"a\"}\n{\"id\": 2, \"tag\": \"b\"}\n");
  {
    auto db = Database::open((dir_ / "data" / "warehouse.duckdb").string(), {});
    ASSERT_TRUE(db.has_value());
    auto c = Connection::open(**db);
    ASSERT_TRUE((*c)->execute("CREATE TABLE sales AS SELECT range AS id, range * 2 AS v FROM range(7)").has_value());
    ASSERT_TRUE((*c)->execute("COPY (SELECT range AS id, 'k' || (range % 3) AS k FROM range(50)) TO '" + (dir_ / "data" / "t.parquet").string() +
                              "' (FORMAT parquet)").has_value());
  }
  write("sightline.yaml", R"yaml(sources:
  semi: {path: data/semi.csv, csv: {delimiter: ";", header: true}, types: {amount: "DECIMAL(10,2)"}}
  parts: {path: "data/parts/*.csv", union_by_name: true}
  events: data/events.jsonl
  warehouse: {path: data/warehouse.duckdb, table: sales}
  pq: {path: data/t.parquet, materialize: true, order_by: k}
models:
  big: SELECT * FROM warehouse WHERE v > 4
)yaml");
  auto built = build();
  ASSERT_TRUE(built.engine) << (built.diagnostics.empty() ? "" : config::format_diagnostic(built.diagnostics[0]));
  const Engine& e = *built.engine;
  EXPECT_EQ(count(e, "semi"), 3);
  EXPECT_EQ(e.relation("semi")->column("amount")->type, "DECIMAL(10,2)");
  EXPECT_EQ(count(e, "parts"), 2);
  EXPECT_NE(e.relation("parts")->column("extra"), nullptr);
  EXPECT_EQ(count(e, "events"), 2);
  EXPECT_EQ(count(e, "warehouse"), 7);
  EXPECT_EQ(count(e, "pq"), 50);
  EXPECT_EQ(count(e, "big"), 4);
  EXPECT_TRUE(e.relation("big")->is_model);
}

TEST_F(EngineSources, ProblemsPointAtTheSource) {
  write("data/ok.csv", "a\n1\n");
  write("sightline.yaml", "sources:\n  ok: data/ok.csv\n  gone: {path: data/nothing/*.parquet}\n  db: {path: data/none.duckdb, table: t}\nmodels:\n  m: SELECT nope FROM ok\n");
  auto built = build();
  EXPECT_FALSE(built.engine);
  std::string all;
  for (const auto& d : built.diagnostics) all += config::format_diagnostic(d) + "\n";
  EXPECT_NE(all.find("sightline.yaml:3:3: error: source 'gone' cannot be read"), std::string::npos) << all;
  EXPECT_NE(all.find("no file matches 'data/nothing/*.parquet'"), std::string::npos) << all;
  EXPECT_NE(all.find("sightline.yaml:4:3: error: source 'db': no such DuckDB file 'data/none.duckdb'"), std::string::npos) << all;
  EXPECT_EQ(all.find("LINE 1"), std::string::npos) << "DuckDB's excerpt of generated SQL is not shown";
}

TEST_F(EngineSources, ModelErrorsNameTheModel) {
  write("data/ok.csv", "a\n1\n");
  write("sightline.yaml", "sources:\n  ok: data/ok.csv\nmodels:\n  m: SELECT nope FROM ok\n");
  auto built = build();
  EXPECT_FALSE(built.engine);
  ASSERT_FALSE(built.diagnostics.empty());
  std::string text = config::format_diagnostic(built.diagnostics[0]);
  EXPECT_NE(text.find("sightline.yaml:4:3: error: model 'm' does not compile"), std::string::npos) << text;
  EXPECT_NE(text.find("nope"), std::string::npos) << text;
}

}  // namespace
}  // namespace sightline::engine
