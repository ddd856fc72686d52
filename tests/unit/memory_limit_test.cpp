// The engine's default memory limit (engine/memory_limit.h): a share of the machine's memory or
// of the container's limit, whichever is smaller, applied when the project sets none.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/project.h"
#include "engine/engine.h"
#include "engine/memory_limit.h"
#include "statement_runner.h"

namespace sightline::engine {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

TEST(DefaultMemoryLimit, IsAShareOfTheSmallerOfMachineAndContainer) {
  EXPECT_EQ(default_memory_limit({24 * kGiB, std::nullopt}), std::to_string(24 * 1024 * 6 / 10) + "MiB");
  EXPECT_EQ(default_memory_limit({24 * kGiB, 4 * kGiB}), std::to_string(4 * 1024 * 6 / 10) + "MiB") << "the container's limit rules";
  EXPECT_EQ(default_memory_limit({24 * kGiB, uint64_t{9223372036854771712u}}), std::to_string(24 * 1024 * 6 / 10) + "MiB")
      << "cgroup v1 says 'no limit' with a huge number";
  EXPECT_EQ(default_memory_limit({0, 2 * kGiB}), std::to_string(2 * 1024 * 6 / 10) + "MiB");
  EXPECT_EQ(default_memory_limit({0, std::nullopt}), "") << "unknown: DuckDB's own default";
  EXPECT_EQ(default_memory_limit({100u << 20, std::nullopt}), "256MiB") << "never below 256 MiB";
}

TEST(DefaultMemoryLimit, AnEngineWithoutALimitGetsItAndOneWithALimitKeepsIt) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("sightline-memory-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "data");
  std::ofstream(dir / "data" / "t.csv") << "a\n1\n";
  auto limit_of = [&](const std::string& engine_yaml) {
    std::ofstream(dir / "sightline.yaml") << engine_yaml << "sources:\n  t: data/t.csv\n";
    auto loaded = config::load_project(dir, config::system_environment());
    EXPECT_TRUE(loaded.ok());
    auto built = Engine::build(*loaded.project);
    EXPECT_TRUE(built.engine);
    auto rows = testing::run_statement(*built.engine, {"SELECT current_setting('memory_limit')", {}, 1});
    return rows["rows"][0][0].get<std::string>();
  };
  const MachineMemory machine = read_machine_memory();
  ASSERT_GT(machine.physical_bytes, 0u);
  const double expected_gib = std::stod(default_memory_limit(machine)) / 1024.0;
  const std::string shown = limit_of("");
  // DuckDB shows it as e.g. "13.7 GiB".
  EXPECT_NEAR(std::stod(shown), expected_gib, 0.15) << shown;
  EXPECT_EQ(limit_of("engine:\n  memory_limit: 1GB\n"), "953.6 MiB") << "an explicit limit is kept as written";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sightline::engine

namespace sightline::engine {
namespace {

TEST(MemoryGuard, ParsesSharesSizesAndOff) {
  constexpr uint64_t usable = uint64_t{10} << 30;
  EXPECT_EQ(*parse_memory_guard("90%", usable), usable * 9 / 10);
  EXPECT_EQ(*parse_memory_guard("12GiB", usable), uint64_t{12} << 30);
  EXPECT_EQ(*parse_memory_guard("500MB", usable), 500'000'000u);
  EXPECT_EQ(*parse_memory_guard("1048576B", usable), 1048576u);
  EXPECT_EQ(*parse_memory_guard("off", usable), 0u);
  EXPECT_EQ(*parse_memory_guard("90%", 0), 0u) << "unknown machine memory: a share means off";
  EXPECT_EQ(usable_memory({uint64_t{24} << 30, uint64_t{4} << 30}), uint64_t{4} << 30);
  EXPECT_EQ(usable_memory({uint64_t{24} << 30, uint64_t{9223372036854771712u}}), uint64_t{24} << 30);
}

TEST(MemoryGuard, RefusesNonsenseWithAReason) {
  for (const char* bad : {"", "%", "0%", "101%", "12 GiB", "12TB", "lots", "-5GiB", "99999999999999GiB", "999999999999GiB"}) {
    auto r = parse_memory_guard(bad, uint64_t{1} << 30);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::InvalidInput) << bad;
  }
}

TEST(ReportedSize, ReadsDuckDBsSizesAndNothingElse) {
  EXPECT_EQ(parse_reported_size("0 bytes"), 0u);
  EXPECT_EQ(parse_reported_size("512 bytes"), 512u);
  EXPECT_EQ(parse_reported_size("1.5 KiB"), 1536u);
  EXPECT_EQ(parse_reported_size("18.8 GiB"), static_cast<uint64_t>(18.8 * (1ull << 30)));
  EXPECT_EQ(parse_reported_size("4.0 GB"), 4'000'000'000u);
  EXPECT_EQ(parse_reported_size("2 TiB"), 2ull << 40);
  for (const char* bad : {"", "GiB", "1.5", "1.5GiB", " 1 GiB", "1.2.3 GiB", ".5 GiB", "5. GiB", "1 GiBs", "-1 GiB", "1 gib"})
    EXPECT_FALSE(parse_reported_size(bad).has_value()) << bad;
}

}  // namespace
}  // namespace sightline::engine
