// Fingerprints of what a source reads at query time (engine/source_files.h), and the data
// versions built on them (Engine::data_versions): every change a reader could see changes them,
// and nothing else does.
#include "engine/source_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "config/project.h"
#include "engine/engine.h"

namespace sightline::engine {
namespace {
namespace fs = std::filesystem;

class SourceFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sightline-files-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name) << text;
  }
  fs::path dir_;
};

TEST_F(SourceFiles, AGlobChangesWithTheFilesItMatchesAndOnlyWithThem) {
  write("flat/a.csv", "x\n1\n");
  write("flat/notes.txt", "not data");
  const fs::path glob = dir_ / "flat" / "*.csv";
  const uint64_t first = fingerprint_files(glob);
  EXPECT_EQ(fingerprint_files(glob), first) << "stable while nothing changes";

  write("flat/notes.txt", "still not data, longer now");
  EXPECT_EQ(fingerprint_files(glob), first) << "a file the glob does not match";

  write("flat/b.csv", "x\n2\n");
  const uint64_t added = fingerprint_files(glob);
  EXPECT_NE(added, first) << "a new matching file";

  write("flat/b.csv", "x\n3\n");  // same size: only the times and maybe the inode say it changed
  const uint64_t rewritten = fingerprint_files(glob);
  EXPECT_NE(rewritten, added) << "a rewritten file of the same size";

  fs::remove(dir_ / "flat" / "b.csv");
  EXPECT_NE(fingerprint_files(glob), rewritten) << "a removed file";
}

TEST_F(SourceFiles, DoubleStarReachesEveryFolderDepthAndAFolderMeansEverythingBelowIt) {
  write("orders/year=2024/month=1/part-0.parquet", "p");
  const fs::path deep = dir_ / "orders" / "**" / "*.parquet";
  const uint64_t before = fingerprint_files(deep);
  const uint64_t folder_before = fingerprint_files(dir_ / "orders");
  write("orders/year=2024/month=2/part-0.parquet", "q");
  EXPECT_NE(fingerprint_files(deep), before) << "a new partition two folders down";
  EXPECT_NE(fingerprint_files(dir_ / "orders"), folder_before);
  const uint64_t now = fingerprint_files(deep);
  write("orders/year=2024/month=2/_SUCCESS", "");
  EXPECT_EQ(fingerprint_files(deep), now) << "not a *.parquet file";
}

TEST_F(SourceFiles, AMissingFileAndItsArrivalAreDifferentVersions) {
  const fs::path file = dir_ / "later.csv";
  const uint64_t absent = fingerprint_files(file);
  EXPECT_EQ(fingerprint_files(file), absent);
  write("later.csv", "x\n");
  EXPECT_NE(fingerprint_files(file), absent);
}

TEST_F(SourceFiles, DataVersionsMoveForLiveSourcesAndTheirViewsNotForLoadedOnes) {
  write("flat/a.csv", "id,amount\n1,10\n");
  write("fixed.csv", "id,amount\n1,10\n");
  config::Project project;
  project.dir = dir_;
  config::SourceSpec live;
  live.name = "live";
  live.path = "flat/*.csv";
  live.format = config::SourceFormat::Csv;
  config::SourceSpec loaded = live;
  loaded.name = "loaded";
  loaded.path = "fixed.csv";
  loaded.materialize = true;
  project.sources = {live, loaded};
  config::ModelSpec view{.name = "live_view", .sql = "SELECT * FROM live"};
  config::ModelSpec table{.name = "loaded_table", .sql = "SELECT * FROM loaded", .materialize = true};
  project.models = {view, table};
  auto built = Engine::build(project);
  ASSERT_TRUE(built.engine) << (built.diagnostics.empty() ? "" : built.diagnostics[0].message);
  const Engine& engine = *built.engine;
  EXPECT_TRUE(engine.has_live_sources());
  const DataVersions before = engine.data_versions();
  write("flat/b.csv", "id,amount\n2,20\n");
  write("fixed.csv", "id,amount\n1,10\n2,20\n");  // loaded at start: later edits are not read
  const DataVersions after = engine.data_versions();
  EXPECT_NE(after.all, before.all);
  EXPECT_NE(after.of("live"), before.of("live"));
  EXPECT_NE(after.of("live_view"), before.of("live_view"));
  EXPECT_EQ(after.of("loaded"), before.of("loaded"));
  EXPECT_EQ(after.of("loaded_table"), before.of("loaded_table"));
  EXPECT_EQ(engine.converting_live_sources(), std::vector<std::string>{"live"});
}

}  // namespace
}  // namespace sightline::engine

namespace sightline::engine {
namespace {

TEST_F(SourceFiles, LoadedDataNearTheMemoryLimitIsAWarningNotAnError) {
  {
    auto db = Database::open(":memory:", {.threads = 1});
    ASSERT_TRUE(db.has_value());
    auto conn = Connection::open(**db);
    ASSERT_TRUE((*conn)->execute("COPY (SELECT range AS a, range * 7 AS b, range % 13 AS c FROM range(1500000)) TO " +
                                 quote_literal((dir_ / "big.parquet").string()) + " (FORMAT parquet)")
                    .has_value());
  }
  config::Project project;
  project.dir = dir_;
  project.engine.memory_limit = "60MB";
  config::SourceSpec big;
  big.name = "big";
  big.path = "big.parquet";
  big.materialize = true;
  project.sources = {big};
  auto built = Engine::build(project);
  ASSERT_TRUE(built.engine) << (built.diagnostics.empty() ? "" : built.diagnostics[0].message);
  ASSERT_EQ(built.diagnostics.size(), 1u);
  EXPECT_EQ(built.diagnostics[0].severity, config::Diagnostic::Severity::Warning);
  EXPECT_NE(built.diagnostics[0].message.find("of the engine's"), std::string::npos) << built.diagnostics[0].message;
  EXPECT_NE(built.diagnostics[0].hint.find("engine.memory_limit"), std::string::npos);

  project.engine.memory_limit = "4GB";
  auto roomy = Engine::build(project);
  ASSERT_TRUE(roomy.engine);
  EXPECT_TRUE(roomy.diagnostics.empty()) << roomy.diagnostics[0].message;
}

}  // namespace
}  // namespace sightline::engine
