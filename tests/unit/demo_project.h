// A copy of the demo project (examples/sales, without its data) in a fresh temporary folder,
// over `rows` rows of demo data generated with `seed`. For tests that need a real project of
// realistic shape; the caller removes the folder.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "demo/demo_data.h"

namespace sightline::testing {

inline std::filesystem::path copy_demo_project(const std::string& name, int64_t rows, uint64_t seed) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("sightline-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path example = fs::path(SIGHTLINE_SOURCE_DIR) / "examples" / "sales";
  for (const auto& entry : fs::recursive_directory_iterator(example)) {
    const fs::path rel = fs::relative(entry.path(), example);
    if (rel.begin()->string() == "data") continue;
    if (entry.is_directory()) {
      fs::create_directories(dir / rel);
    } else {
      fs::create_directories((dir / rel).parent_path());
      fs::copy_file(entry.path(), dir / rel);
    }
  }
  auto data = demo::generate_demo_data({.rows = rows, .out_dir = dir / "data", .seed = seed, .threads = 2});
  EXPECT_TRUE(data.has_value()) << (data ? "" : data.error().message);
  return dir;
}

}  // namespace sightline::testing
