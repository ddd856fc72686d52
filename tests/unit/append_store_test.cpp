// Append mode (engine/append_store.h): the table always equals DuckDB's read of the files on disk
// (new, changed, removed), a sync is all or nothing (a broken file, a failing verification),
// the ledger survives a reopen of the database file, retention removes old files' rows, and the
// version changes exactly when the rows do.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "engine/append_store.h"
#include "engine/result_rows.h"

namespace sightline::engine {
namespace {
namespace fs = std::filesystem;

class AppendStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sightline-append-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data" / "part=a");
    open((dir_ / "state.duckdb").string());
    target_.source = "orders";
    target_.recipe = "r1";
    // As Engine::build decides for a glob whose files are not all below key=value folders.
    target_.read_file = [](const std::string& file) {
      return "SELECT * FROM read_parquet(" + quote_literal(file) + ", hive_partitioning = false)";
    };
  }
  void TearDown() override {
    conn_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }
  void open(const std::string& path) {
    conn_.reset();
    db_.reset();
    auto db = Database::open(path, {.threads = 2});
    ASSERT_TRUE(db.has_value()) << db.error().for_author();
    db_ = std::move(*db);
    auto conn = Connection::open(*db_);
    ASSERT_TRUE(conn.has_value());
    conn_ = std::move(*conn);
  }
  // A Parquet file of `n` rows: an id from `first`, a DECIMAL amount, a text with NULLs.
  void write_file(const std::string& name, int first, int n) {
    auto made = conn_->execute("COPY (SELECT i AS id, CAST(i * 1.25 AS DECIMAL(12, 2)) AS amount, CASE WHEN i % 5 = 0 THEN NULL ELSE 'ü' || "
                               "(i % 3) END AS \"odd name\" FROM range(" +
                               std::to_string(first) + ", " + std::to_string(first + n) + ") t(i)) TO " + quote_literal(path(name)) +
                               " (FORMAT parquet)");
    ASSERT_TRUE(made.has_value()) << made.error().for_author();
  }
  std::string path(const std::string& name) const { return (dir_ / "data" / name).string(); }
  std::string pattern() const { return (dir_ / "data" / "**" / "*.parquet").string(); }
  Result<AppendSync> sync(int64_t now_ms = 1'000, const AppendVerify& verify = nullptr) {
    return sync_append_table(*conn_, target_, list_files(pattern()), now_ms, verify);
  }
  // count, sum(amount), count("odd name") as text: of the table, and of DuckDB reading the files.
  std::string totals(const std::string& from) {
    auto out = conn_->query("SELECT count(*), CAST(sum(amount) AS VARCHAR), count(\"odd name\") FROM " + from, 1);
    EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().for_author());
    if (!out) return "";
    auto rows = rows_of(*out);
    return rows ? rows->dump() : "";
  }
  std::string table_totals() { return totals(quote_identifier(append_table_name("orders"))); }
  std::string file_totals() {
    if (list_files(pattern()).empty()) return totals("(SELECT 1 AS id, CAST(NULL AS DECIMAL(12,2)) AS amount, NULL AS \"odd name\" LIMIT 0)");
    return totals("read_parquet(" + quote_literal(pattern()) + ")");
  }

  fs::path dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Connection> conn_;
  AppendTarget target_;
};

TEST_F(AppendStore, EqualsTheFilesThroughAppendsChangesAndRemovals) {
  write_file("a.parquet", 0, 1000);
  write_file("part=a/b.parquet", 1000, 500);
  auto opened = open_append_table(*conn_, target_, pattern());
  ASSERT_TRUE(opened.has_value()) << opened.error().for_author();
  auto first = sync();
  ASSERT_TRUE(first.has_value()) << first.error().for_author();
  EXPECT_EQ(first->change.added, 2);
  EXPECT_EQ(first->change.rows_added, 1500);
  EXPECT_EQ(first->state.rows, 1500);
  EXPECT_EQ(table_totals(), file_totals());
  const uint64_t v1 = first->state.version;

  auto again = sync();
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->change.any());
  EXPECT_EQ(again->state.version, v1) << "nothing changed: same version";
  EXPECT_EQ(again->state.files_fingerprint, files_fingerprint(list_files(pattern())));

  write_file("c.parquet", 5000, 250);
  auto added = sync();
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->change.added, 1);
  EXPECT_EQ(added->change.rows_added, 250);
  EXPECT_NE(added->state.version, v1);
  EXPECT_EQ(table_totals(), file_totals());

  // Rewritten with other rows (and another size): exactly its rows are replaced.
  write_file("a.parquet", 20000, 10);
  auto replaced = sync();
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(replaced->change.replaced, 1);
  EXPECT_EQ(replaced->change.rows_removed, 1000);
  EXPECT_EQ(replaced->change.rows_added, 10);
  EXPECT_EQ(table_totals(), file_totals());
  EXPECT_EQ(replaced->state.rows, 760);

  fs::remove(path("part=a/b.parquet"));
  auto removed = sync();
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->change.removed, 1);
  EXPECT_EQ(removed->change.rows_removed, 500);
  EXPECT_EQ(table_totals(), file_totals());
  EXPECT_EQ(removed->state.files, 2);
}

TEST_F(AppendStore, ABrokenFileChangesNothingUntilItIsFixed) {
  write_file("a.parquet", 0, 100);
  ASSERT_TRUE(open_append_table(*conn_, target_, pattern()).has_value());
  auto good = sync();
  ASSERT_TRUE(good.has_value());
  write_file("b.parquet", 100, 100);
  std::ofstream(path("c.parquet")) << "this is not parquet";
  const std::string before = table_totals();
  auto broken = sync(2'000);
  ASSERT_FALSE(broken.has_value()) << "a file that cannot be read fails the whole sync";
  EXPECT_EQ(table_totals(), before) << "b.parquet was not appended either";
  auto state = read_append_state(*conn_, "orders");
  ASSERT_TRUE(state.has_value() && state->has_value());
  EXPECT_EQ((*state)->version, good->state.version);
  EXPECT_EQ((*state)->rows, 100);

  fs::remove(path("c.parquet"));
  auto fixed = sync(3'000);
  ASSERT_TRUE(fixed.has_value()) << fixed.error().for_author();
  EXPECT_EQ(fixed->change.added, 1);
  EXPECT_EQ(table_totals(), file_totals());
}

TEST_F(AppendStore, AFailedVerificationRollsTheSyncBack) {
  write_file("a.parquet", 0, 100);
  ASSERT_TRUE(open_append_table(*conn_, target_, pattern()).has_value());
  ASSERT_TRUE(sync().has_value());
  write_file("b.parquet", 100, 50);
  int64_t seen_rows = -1;
  auto refused = sync(2'000, [&](Connection& c, const AppendChange& change) -> Result<void> {
    // The verification sees the rows as they would be.
    auto out = c.query("SELECT count(*) FROM " + quote_identifier(append_table_name("orders")), 1);
    if (!out) return fail(out.error());
    seen_rows = as_count((*rows_of(*out))[0][0]).value_or(-1);
    EXPECT_EQ(change.added, 1);
    return fail(ErrorKind::SourceFailed, "check 'unique: id' failed");
  });
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().message, "check 'unique: id' failed");
  EXPECT_EQ(seen_rows, 150);
  auto state = read_append_state(*conn_, "orders");
  ASSERT_TRUE(state.has_value() && state->has_value());
  EXPECT_EQ((*state)->rows, 100);
  EXPECT_EQ(table_totals(), totals("read_parquet(" + quote_literal(path("a.parquet")) + ")"));
  // Accepted next time: the file is read then.
  auto accepted = sync(3'000);
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(accepted->change.added, 1);
  EXPECT_EQ(table_totals(), file_totals());
}

TEST_F(AppendStore, TheLedgerOutlivesTheDatabaseBeingClosed) {
  write_file("a.parquet", 0, 300);
  ASSERT_TRUE(open_append_table(*conn_, target_, pattern()).has_value());
  auto first = sync();
  ASSERT_TRUE(first.has_value());
  open((dir_ / "state.duckdb").string());
  auto reopened = open_append_table(*conn_, target_, pattern());
  ASSERT_TRUE(reopened.has_value()) << reopened.error().for_author();
  EXPECT_EQ(reopened->version, first->state.version);
  EXPECT_EQ(reopened->rows, 300);
  write_file("b.parquet", 300, 7);
  auto next = sync(5'000);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->change.added, 1) << "only the new file is read";
  EXPECT_EQ(next->change.rows_added, 7);
  EXPECT_EQ(table_totals(), file_totals());
}

TEST_F(AppendStore, AnotherRecipeStartsAfresh) {
  write_file("a.parquet", 0, 40);
  ASSERT_TRUE(open_append_table(*conn_, target_, pattern()).has_value());
  ASSERT_TRUE(sync().has_value());
  target_.recipe = "r2";
  target_.read_file = [](const std::string& file) {
    return "SELECT id, amount * 2 AS amount, \"odd name\" FROM read_parquet(" + quote_literal(file) + ")";
  };
  auto reopened = open_append_table(*conn_, target_, pattern());
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ(reopened->rows, 0);
  auto again = sync(2'000);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->change.added, 1);
  EXPECT_EQ(table_totals(), totals("(SELECT id, amount * 2 AS amount, \"odd name\" FROM read_parquet(" + quote_literal(pattern()) + "))"));
}

TEST_F(AppendStore, RetentionRemovesTheRowsOfOldFilesOnce) {
  using namespace std::chrono;
  write_file("old.parquet", 0, 100);
  write_file("new.parquet", 100, 10);
  const auto now = fs::file_time_type::clock::now();
  fs::last_write_time(path("old.parquet"), now - hours(48));
  fs::last_write_time(path("new.parquet"), now - hours(1));
  const int64_t now_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  target_.keep_ms = 24 * 3600 * 1000;
  ASSERT_TRUE(open_append_table(*conn_, target_, pattern()).has_value());
  auto first = sync(now_ms);
  ASSERT_TRUE(first.has_value()) << first.error().for_author();
  EXPECT_EQ(first->state.rows, 10) << "a file older than keep is never read";
  EXPECT_EQ(first->expired_files, std::vector<std::string>{path("old.parquet")});
  // A day later, the newer file expires too; then nothing more happens.
  auto later = sync(now_ms + 24 * 3600 * 1000);
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(later->change.expired, 1);
  EXPECT_EQ(later->change.rows_removed, 10);
  EXPECT_EQ(later->state.rows, 0);
  auto still = sync(now_ms + 25 * 3600 * 1000);
  ASSERT_TRUE(still.has_value());
  EXPECT_FALSE(still->change.any());
  // An expired file that is removed is forgotten without counting as a change of rows.
  fs::remove(path("old.parquet"));
  auto forgotten = sync(now_ms + 26 * 3600 * 1000);
  ASSERT_TRUE(forgotten.has_value());
  EXPECT_EQ(forgotten->change.rows_removed, 0);
  EXPECT_EQ(forgotten->state.rows, 0);
}

TEST_F(AppendStore, DeclaredColumnsMakeTheTableBeforeAnyFile) {
  target_.columns = {{"at", "TIMESTAMPTZ"}, {"amount", "DECIMAL(12,2)"}, {"kind", "VARCHAR"}};
  auto opened = open_append_table(*conn_, target_, std::nullopt);
  ASSERT_TRUE(opened.has_value()) << opened.error().for_author();
  EXPECT_EQ(opened->rows, 0);
  auto cols = conn_->prepare("SELECT * FROM " + quote_identifier(append_table_name("orders")));
  ASSERT_TRUE(cols.has_value());
  ASSERT_EQ(cols->columns().size(), 4u);
  EXPECT_EQ(cols->columns()[1].type, "DECIMAL(12,2)");
  EXPECT_EQ(cols->columns()[3].name, std::string(kBatchColumn));
  // Without declared columns nor a file, there is nothing to learn the columns from.
  AppendTarget other = target_;
  other.source = "other";
  other.columns.clear();
  EXPECT_FALSE(open_append_table(*conn_, other, std::nullopt).has_value());
}

TEST_F(AppendStore, TablesOfRemovedSourcesGo) {
  write_file("a.parquet", 0, 10);
  ASSERT_TRUE(open_append_table(*conn_, target_, pattern()).has_value());
  ASSERT_TRUE(sync().has_value());
  ASSERT_TRUE(drop_append_tables_except(*conn_, {"something_else"}).has_value());
  auto state = read_append_state(*conn_, "orders");
  ASSERT_TRUE(state.has_value());
  EXPECT_FALSE(state->has_value());
  EXPECT_FALSE(conn_->query("SELECT * FROM " + quote_identifier(append_table_name("orders")), 1).has_value());
}

}  // namespace
}  // namespace sightline::engine
