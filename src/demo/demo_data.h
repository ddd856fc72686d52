// A deterministic, realistic demo data set: sales orders as hive-partitioned Parquet, plus a
// small customer dimension as CSV. Used by `sightline demo`, the examples and the benchmarks.
//
//   auto summary = generate_demo_data({.rows = 1'000'000, .out_dir = "data/demo"});
//   if (!summary) { log the error }
//
// Layout written:
//   out_dir/orders/year=YYYY/month=M/*.parquet   (year and month live only in the directory names)
//   out_dir/customers.csv                        (customer, segment, signup_date, account_manager)
//
// Columns of orders (dashboards depend on these exact names and types):
//   order_id BIGINT        1..rows, unique; increases with order_date
//   order_date DATE        2023-01-01 .. 2025-12-31, growing over time, weekly and seasonal shape
//   region VARCHAR         North, South, East, West, Central
//   country VARCHAR        25 countries, each in exactly one region
//   channel VARCHAR        Online, Retail, Partner, Direct; ~0.5% NULL
//   category VARCHAR       8 categories
//   product VARCHAR        2,000 products, each in one category, Zipf-like popularity
//   customer VARCHAR       50,000 customers (the names in customers.csv); ~1% NULL
//   units INTEGER          1..50, mostly small
//   unit_price DECIMAL(10,2)  the product's base price (2..2000) with small variation
//   discount DOUBLE        0..0.4, mostly 0; ~2% NULL
//   revenue DECIMAL(12,2)  round(units * unit_price * (1 - coalesce(discount, 0)), 2)
//   year INTEGER, month INTEGER   hive partition columns, derived from order_date
// Read with read_parquet('<out_dir>/orders/**/*.parquet', hive_partitioning = true,
// hive_types = {'year': INTEGER, 'month': INTEGER}) to get the partition columns as INTEGER
// (without hive_types DuckDB infers BIGINT).
//
// Determinism: the same rows and seed give the same rows (not necessarily byte-identical files,
// nor the same row order inside them) with the same DuckDB version; all randomness is a hash of
// (row index, stream, seed), so the thread count does not matter.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/error.h"

namespace sightline::demo {

struct DemoDataOptions {
  int64_t rows = 10'000'000;
  std::filesystem::path out_dir;
  uint64_t seed = 42;
  int threads = 0;  // DuckDB worker threads; 0: DuckDB's default (all cores)
};

struct DemoDataSummary {
  int64_t rows;                        // order rows written
  int64_t files;                       // Parquet files under out_dir/orders
  std::string first_date, last_date;   // first and last order_date, YYYY-MM-DD
  double seconds;                      // wall-clock time of the whole generation
};

// Writes deterministic, realistic sales data as hive-partitioned Parquet:
// out_dir/orders/year=YYYY/month=M/*.parquet, plus out_dir/customers.csv (a small dimension table).
// Same rows+seed → same data (byte-identical Parquet not required, identical rows required).
// Replaces an existing out_dir/orders (writes into a temp dir beside it and renames at the end,
// so a crash never leaves half a data set looking complete).
// Errors: InvalidInput for bad options (rows < 1, empty out_dir, threads < 0); Internal for
// file-system or DuckDB failures.
Result<DemoDataSummary> generate_demo_data(const DemoDataOptions& options);

}  // namespace sightline::demo
