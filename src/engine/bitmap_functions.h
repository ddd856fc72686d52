// Exact distinct counts without scanning rows: aggregate functions, registered in DuckDB,
// over compressed bitmaps (Roaring) of dictionary codes.
//
//   sightline_bitmap(code UINTEGER) -> BLOB        the set of codes of a group, serialized
//   sightline_bitmap_count(bitmap BLOB) -> BIGINT  how many codes the union of the bitmaps holds
//   sightline_bitmap_union(bitmap BLOB) -> BLOB    the union of the bitmaps, serialized (a rollup
//                                                  made from a finer rollup)
//
// A rollup keeps, per group, the bitmap of the codes of a column's distinct values; a widget's
// count(DISTINCT column) over any set of groups is then the size of the union of their bitmaps:
// exact, and proportional to the groups read rather than to the rows. NULL codes are skipped, so
// NULL values are not counted, as count(DISTINCT) does not count them. A bitmap that does not
// deserialize (never written by sightline_bitmap) makes the query fail with an engine error.
//
//   SELECT region, sightline_bitmap_count(customers) FROM rollup WHERE ... GROUP BY region
//
// A third function estimates instead, for measures whose author accepts it (`approx: true`) when
// rows are read: sightline_hll_count(hash UBIGINT) -> BIGINT, a HyperLogLog of 4,096 registers
// (about 1.6 % standard error; DuckDB's own approx_count_distinct was 23 % off on 12,345
// strings). The planner passes hash() of the values and leaves NULLs out.
//
// Thread-safe: DuckDB calls the functions from many threads, each on its own states.
#pragma once

#include "core/error.h"
#include "engine/duckdb.h"

namespace sightline::engine {

// Registers the functions in the connection's database (every connection sees them). Call once
// per database, before it is locked down.
Result<void> register_bitmap_functions(Connection& conn);

}  // namespace sightline::engine
