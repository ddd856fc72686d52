#include "demo/demo_data.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "engine/duckdb.h"

namespace sightline::demo {
namespace {

namespace fs = std::filesystem;
using engine::quote_literal;

// Shape of the data set. The SQL below hard-codes the matching word lists and weights.
constexpr int64_t kProducts = 2'000;
constexpr int64_t kCustomers = 50'000;

// Replaces every {NAME} in `sql` with its value.
std::string fill(std::string sql, std::initializer_list<std::pair<std::string_view, std::string>> vars) {
  for (const auto& [name, value] : vars) {
    std::string token(1, '{');
    token.append(name);
    token.push_back('}');
    for (size_t at = sql.find(token); at != std::string::npos; at = sql.find(token, at + value.size())) {
      sql.replace(at, token.size(), value);
    }
  }
  return sql;
}

// SplitMix64: spreads a small user seed over all 64 bits.
uint64_t mix_seed(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The first row of a query's result, every column as text (integers and strings only).
Result<std::vector<std::string>> first_row(engine::Connection& conn, std::string_view sql) {
  auto out = conn.query(sql, 1);
  if (!out) return fail(out.error());
  if (out->table.num_rows < 1 || out->table.batches.empty()) {
    return fail(ErrorKind::Internal, "demo data: a bookkeeping query returned no rows");
  }
  const ArrowArray& batch = *out->table.batches[0];
  const ArrowSchema& schema = *out->table.schema;
  std::vector<std::string> row;
  for (int64_t c = 0; c < batch.n_children; ++c) {
    const ArrowArray* col = batch.children[c];
    const std::string_view format = schema.children[c]->format;
    const int64_t at = batch.offset + col->offset;
    const auto* validity = static_cast<const uint8_t*>(col->buffers[0]);
    if (validity && !(validity[at / 8] & (1u << (at % 8)))) {
      return fail(ErrorKind::Internal, "demo data: a bookkeeping query returned NULL");
    }
    if (format == "l") {
      row.push_back(std::to_string(static_cast<const int64_t*>(col->buffers[1])[at]));
    } else if (format == "i") {
      row.push_back(std::to_string(static_cast<const int32_t*>(col->buffers[1])[at]));
    } else if (format == "u") {
      const auto* offsets = static_cast<const int32_t*>(col->buffers[1]);
      row.emplace_back(static_cast<const char*>(col->buffers[2]) + offsets[at], offsets[at + 1] - offsets[at]);
    } else if (format == "U") {
      const auto* offsets = static_cast<const int64_t*>(col->buffers[1]);
      row.emplace_back(static_cast<const char*>(col->buffers[2]) + offsets[at], offsets[at + 1] - offsets[at]);
    } else {
      return fail(ErrorKind::Internal, "demo data: unexpected Arrow format '" + std::string(format) + "'");
    }
  }
  return row;
}

Result<void> run(engine::Connection& conn, const std::string& sql, const char* step) {
  auto r = conn.execute(sql);
  if (!r) return fail(ErrorKind::Internal, std::string("demo data: ") + step + " failed: " + r.error().for_author());
  return {};
}

// Removes a path on scope exit unless released (the temp outputs of a failed run).
class Cleanup {
 public:
  explicit Cleanup(fs::path p) : path_(std::move(p)) {}
  ~Cleanup() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

// u(i, k): a uniform double in [0, 1) from (row or entity index i, stream k in [0, 64), seed).
// DuckDB's multi-argument hash() XOR-combines per-argument hashes, which would make streams of
// the same row correlated, so one integer that is unique per (i, k) is hashed instead.
constexpr const char* kMacros = R"SQL(
CREATE MACRO u(i, k) AS
  (hash(xor((i * 64 + k)::UBIGINT, {SEEDMIX}::UBIGINT)) >> 11)::DOUBLE / 9007199254740992.0;
)SQL";

// 25 countries in 5 regions; weights (per mille) skew both countries and regions.
constexpr const char* kCountries = R"SQL(
CREATE TEMP TABLE countries AS SELECT * FROM (VALUES
  ('United Kingdom', 'North', 136), ('Ireland', 'North', 25), ('Sweden', 'North', 35),
  ('Norway', 'North', 22), ('Denmark', 'North', 22), ('Finland', 'North', 18),
  ('Spain', 'South', 75), ('Italy', 'South', 75), ('Portugal', 'South', 20), ('Greece', 'South', 14),
  ('Poland', 'East', 45), ('Czechia', 'East', 18), ('Hungary', 'East', 13), ('Romania', 'East', 14),
  ('Bulgaria', 'East', 8),
  ('France', 'West', 112), ('Netherlands', 'West', 55), ('Belgium', 'West', 30), ('Luxembourg', 'West', 6),
  ('Germany', 'Central', 178), ('Switzerland', 'Central', 35), ('Austria', 'Central', 30),
  ('Slovakia', 'Central', 7), ('Slovenia', 'Central', 5), ('Liechtenstein', 'Central', 2)
) t(country, region, weight);
CREATE TEMP TABLE country_slots AS
WITH c AS (
  SELECT country, region, weight,
         sum(weight) OVER (ORDER BY country ROWS UNBOUNDED PRECEDING) AS hi
  FROM countries
)
SELECT s.range AS slot, c.country, c.region
FROM range(1000) s JOIN c ON s.range >= c.hi - c.weight AND s.range < c.hi;
)SQL";

// 8 categories; `share` is the percentage of the 2,000 products in each.
constexpr const char* kProductsSql = R"SQL(
CREATE TEMP TABLE categories AS SELECT * FROM (VALUES
  (0, 'Electronics', 20, 15.0, 2000.0,
   ['Smart', 'Wireless', 'Digital', 'Portable', 'Ultra', 'Pro'],
   ['Speaker', 'Headphones', 'Monitor', 'Charger', 'Camera', 'Tablet', 'Router', 'Keyboard']),
  (1, 'Home & Kitchen', 16, 8.0, 400.0,
   ['Classic', 'Cozy', 'Modern', 'Rustic', 'Compact'],
   ['Blender', 'Kettle', 'Lamp', 'Skillet', 'Knife Set', 'Toaster', 'Coffee Maker']),
  (2, 'Office Supplies', 12, 2.0, 600.0,
   ['Premium', 'Everyday', 'Executive', 'Essential'],
   ['Notebook', 'Stapler', 'Pen Set', 'Desk Organizer', 'Office Chair', 'Shredder', 'Whiteboard']),
  (3, 'Sports & Outdoors', 13, 5.0, 800.0,
   ['Trail', 'Active', 'Alpine', 'Aero', 'Summit'],
   ['Backpack', 'Tent', 'Yoga Mat', 'Water Bottle', 'Bike Helmet', 'Rain Jacket', 'Running Shoes']),
  (4, 'Beauty & Health', 11, 3.0, 150.0,
   ['Pure', 'Fresh', 'Gentle', 'Vital', 'Radiant'],
   ['Serum', 'Shampoo', 'Moisturizer', 'Toothbrush', 'Vitamin Pack', 'Sunscreen']),
  (5, 'Toys & Games', 9, 4.0, 250.0,
   ['Happy', 'Magic', 'Mini', 'Super', 'Cosmic'],
   ['Puzzle', 'Robot', 'Board Game', 'Plush Bear', 'Building Set', 'Race Car']),
  (6, 'Grocery', 12, 2.0, 60.0,
   ['Organic', 'Golden', 'Farmhouse', 'Artisan'],
   ['Coffee Beans', 'Green Tea', 'Olive Oil', 'Granola', 'Dark Chocolate', 'Honey']),
  (7, 'Furniture', 7, 80.0, 2000.0,
   ['Nordic', 'Oak', 'Urban', 'Heritage'],
   ['Desk', 'Sofa', 'Bookshelf', 'Wardrobe', 'Bed Frame', 'Dining Table'])
) t(category_id, category, share, min_price, max_price, adjectives, nouns);
-- Product names end in a letter and a 4-digit code that is a bijection of the product id, so
-- names are unique. product_rank 0 is the best seller; cheaper products tend to rank higher.
CREATE TEMP TABLE products AS
WITH p AS (
  SELECT range AS pid, floor(u(range, 40) * 100)::BIGINT AS slot,
         u(range, 41) AS u_adjective, u(range, 42) AS u_noun, u(range, 43) AS u_price,
         u(range, 44) AS u_letter, u(range, 45) AS u_popularity
  FROM range({PRODUCTS})
), c AS (
  SELECT *, sum(share) OVER (ORDER BY category_id ROWS UNBOUNDED PRECEDING) AS hi FROM categories
), named AS (
  SELECT p.pid, p.u_popularity, c.category,
         c.adjectives[1 + floor(p.u_adjective * len(c.adjectives))::INTEGER] || ' '
           || c.nouns[1 + floor(p.u_noun * len(c.nouns))::INTEGER] || ' '
           || chr(65 + floor(p.u_letter * 26)::INTEGER)
           || ((p.pid * 7919 + 4321) % 9000 + 1000)::VARCHAR AS product,
         exp(ln(c.min_price) + p.u_price * (ln(c.max_price) - ln(c.min_price))) AS raw_price
  FROM p JOIN c ON p.slot >= c.hi - c.share AND p.slot < c.hi
), priced AS (
  SELECT *, CASE WHEN raw_price >= 10 THEN round(raw_price) - 0.01 ELSE round(raw_price, 2) END AS base_price
  FROM named
)
SELECT row_number() OVER (ORDER BY u_popularity * pow(base_price, 0.25), pid) - 1 AS product_rank,
       category, product, base_price
FROM priced;
)SQL";

// 50,000 customers; customer_rank 0 buys the most. Names are a bijection of a permuted index:
// companies (prefix, industry, legal form: 50 x 40 x 25) or people (first, initial, last: 50 x 25 x 40).
constexpr const char* kCustomersSql = R"SQL(
CREATE TEMP TABLE customers AS
WITH words AS (
  SELECT
    ['Northwind', 'Bluepeak', 'Redwood', 'Silverline', 'Ironbridge', 'Greenfield', 'Brightwater',
     'Stonegate', 'Oakridge', 'Clearview', 'Summit', 'Harbor', 'Evergreen', 'Falcon', 'Granite',
     'Horizon', 'Keystone', 'Lakeside', 'Meridian', 'Northstar', 'Pinecrest', 'Quantum', 'Riverside',
     'Sterling', 'Sunrise', 'Trident', 'Vanguard', 'Westbrook', 'Whitecliff', 'Alder', 'Apex',
     'Beacon', 'Cedar', 'Cobalt', 'Crescent', 'Delta', 'Eastgate', 'Fairview', 'Foxglove', 'Goldleaf',
     'Highland', 'Juniper', 'Kingsway', 'Lighthouse', 'Maple', 'Nimbus', 'Orchard', 'Pioneer',
     'Rosewood', 'Starling'] AS prefixes,
    ['Logistics', 'Foods', 'Analytics', 'Retail', 'Manufacturing', 'Consulting', 'Energy', 'Health',
     'Media', 'Software', 'Textiles', 'Motors', 'Pharma', 'Construction', 'Hospitality', 'Robotics',
     'Telecom', 'Supplies', 'Engineering', 'Outfitters', 'Interiors', 'Brewing', 'Dynamics', 'Labs',
     'Trading', 'Ventures', 'Systems', 'Solutions', 'Partners', 'Industries', 'Studios', 'Networks',
     'Marine', 'Aerospace', 'Agritech', 'Furniture', 'Apparel', 'Electronics', 'Printing',
     'Transport'] AS industries,
    ['Ltd', 'GmbH', 'Inc', 'LLC', 'SA', 'AG', 'BV', 'PLC', 'SAS', 'SpA', 'AB', 'Oy', 'AS', 'ApS',
     'Sp. z o.o.', 's.r.o.', 'Kft', 'SRL', 'NV', 'Group', 'Holdings', 'Co', '& Co', 'Corp', 'KG'] AS legal_forms,
    ['Anna', 'Lukas', 'Sofia', 'Jonas', 'Emma', 'Mateo', 'Olivia', 'Noah', 'Mia', 'Leon', 'Chloe',
     'Hugo', 'Elena', 'Oscar', 'Julia', 'Felix', 'Laura', 'Luca', 'Sara', 'Adam', 'Eva', 'Jakub',
     'Ines', 'Tomas', 'Maja', 'Finn', 'Clara', 'Elias', 'Nora', 'Marco', 'Alice', 'Pablo', 'Ida',
     'Matteo', 'Zofia', 'Henrik', 'Lea', 'Mikael', 'Greta', 'Dario', 'Alma', 'Viktor', 'Irene',
     'Bruno', 'Lina', 'Oliver', 'Marta', 'Sven', 'Helena', 'Nikos'] AS first_names,
    ['Schmidt', 'Rossi', 'Garcia', 'Martin', 'Nowak', 'Jensen', 'Novak', 'Silva', 'Murphy', 'Dubois',
     'Muller', 'Bianchi', 'Lopez', 'Bernard', 'Kowalski', 'Hansen', 'Horvath', 'Santos', 'Kelly',
     'Lambert', 'Fischer', 'Romano', 'Martinez', 'Petit', 'Wisniewski', 'Nielsen', 'Popescu',
     'Pereira', 'Walsh', 'Janssens', 'Weber', 'Colombo', 'Fernandez', 'Moreau', 'Lewandowski',
     'Larsen', 'Varga', 'Costa', 'Byrne', 'Peeters'] AS last_names
), c AS (
  SELECT range AS customer_rank, (range * 7919 + 1234) % {CUSTOMERS} AS idx,
         u(range, 48) AS u_segment, u(range, 49) AS u_signup, u(range, 50) AS u_manager
  FROM range({CUSTOMERS})
), s AS (
  SELECT *,
    CASE WHEN customer_rank < 500 THEN
           CASE WHEN u_segment < 0.60 THEN 'Enterprise' WHEN u_segment < 0.95 THEN 'SMB' ELSE 'Consumer' END
         WHEN customer_rank < 5000 THEN
           CASE WHEN u_segment < 0.20 THEN 'Enterprise' WHEN u_segment < 0.75 THEN 'SMB' ELSE 'Consumer' END
         ELSE
           CASE WHEN u_segment < 0.02 THEN 'Enterprise' WHEN u_segment < 0.32 THEN 'SMB' ELSE 'Consumer' END
    END AS segment
  FROM c
)
SELECT s.customer_rank,
  CASE WHEN s.segment = 'Consumer' THEN
         w.first_names[s.idx % 50 + 1] || ' ' || chr(65 + ((s.idx // 50) % 25)::INTEGER) || '. '
           || w.last_names[s.idx // 1250 + 1]
       ELSE
         w.prefixes[s.idx % 50 + 1] || ' ' || w.industries[(s.idx // 50) % 40 + 1] || ' '
           || w.legal_forms[s.idx // 2000 + 1]
  END AS customer,
  s.segment,
  DATE '2016-01-01' + floor(s.u_signup * 2557)::INTEGER AS signup_date,
  'am' || (CASE WHEN s.segment = 'Enterprise' THEN 1 + floor(s.u_manager * 8)
                ELSE 9 + floor(s.u_manager * 32) END)::INTEGER::VARCHAR || '@example.com' AS account_manager
FROM s, words w;
)SQL";

// Orders per day: growth (+35%/year), weekday and month shape, shopping days, holidays, noise.
// Integer weights keep the running sum exact; row i falls on the day whose [s, next_s) holds i,
// so order_id grows with order_date and the day counts follow the weights exactly.
constexpr const char* kDaysSql = R"SQL(
CREATE TEMP TABLE day_spans AS
WITH d AS (
  SELECT range AS dn, DATE '2023-01-01' + range::INTEGER AS order_day FROM range(1096)
), w AS (
  SELECT dn, order_day, round(10000
      * pow(1.35, dn / 365.25)
      * CASE isodow(order_day) WHEN 1 THEN 1.05 WHEN 2 THEN 1.08 WHEN 3 THEN 1.06 WHEN 4 THEN 1.03
                                WHEN 5 THEN 1.00 WHEN 6 THEN 0.78 ELSE 0.62 END
      * [0.85, 0.82, 0.95, 0.95, 1.00, 0.97, 0.90, 0.88, 1.00, 1.05, 1.40, 1.55][month(order_day)]
      * CASE WHEN month(order_day) = 11 AND day(order_day) BETWEEN 23 AND 29 AND isodow(order_day) = 5
               THEN 2.4  -- Black Friday
             WHEN isodow(order_day) = 1 AND ((month(order_day) = 11 AND day(order_day) >= 26)
                                             OR (month(order_day) = 12 AND day(order_day) <= 2))
               THEN 1.8  -- Cyber Monday
             WHEN month(order_day) = 12 AND day(order_day) = 25 THEN 0.3
             WHEN month(order_day) = 12 AND day(order_day) = 26 THEN 0.6
             WHEN month(order_day) = 12 AND day(order_day) IN (24, 31) THEN 0.7
             WHEN month(order_day) = 1 AND day(order_day) = 1 THEN 0.4
             ELSE 1.0 END
      * (0.88 + 0.24 * u(dn, 32)))::BIGINT AS w
  FROM d
), c AS (
  SELECT order_day, sum(w) OVER (ORDER BY order_day ROWS UNBOUNDED PRECEDING) - w AS before,
         sum(w) OVER () AS total
  FROM w
)
-- s = round(rows * before / total): row i sits at quantile (i + 0.5) / rows of the calendar.
SELECT order_day, ((2 * {ROWS}::HUGEINT * before + total) // (2 * total))::BIGINT AS s FROM c;

CREATE TEMP TABLE nonempty_days AS
SELECT order_day, s, next_s, lead(order_day, 1, order_day) OVER (ORDER BY order_day) AS next_day
FROM (SELECT order_day, s, lead(s, 1, {ROWS}::BIGINT) OVER (ORDER BY order_day) AS next_s FROM day_spans)
WHERE next_s > s;
)SQL";

// Rows come in buckets of {WIDTH} consecutive indexes, WIDTH <= the smallest non-empty day, so a
// bucket spans at most two days: an equi-join plus one comparison finds a row's day.
constexpr const char* kBucketsSql = R"SQL(
CREATE TEMP TABLE date_buckets AS
WITH b AS (SELECT range AS bucket, range * {WIDTH} AS first_row FROM range(({ROWS} + {WIDTH} - 1) // {WIDTH}))
SELECT b.bucket, n.order_day, n.next_s, n.next_day
FROM b ASOF JOIN nonempty_days n ON b.first_row >= n.s;
)SQL";

// range() is a single-threaded source, and everything downstream of it in the pipeline would be
// too; a materialized table of row indexes is scanned in parallel (one task per row group).
constexpr const char* kRowIdsSql = R"SQL(
CREATE TEMP TABLE row_ids AS SELECT range AS i FROM range({ROWS});
)SQL";

constexpr const char* kOrdersSql = R"SQL(
COPY (
  WITH r AS (
    SELECT i,
           i // {WIDTH} AS bucket,
           i::DOUBLE / {ROWS} AS t,
           floor(u(i, 1) * 1000)::BIGINT AS slot,
           u(i, 2) AS u_channel,
           u(i, 3) AS u_product,
           u(i, 4) AS u_customer,
           u(i, 5) AS u_units,
           u(i, 6) AS u_bulk,
           u(i, 7) AS u_price,
           u(i, 8) AS u_discount,
           u(i, 9) AS u_discount_null,
           u(i, 10) AS u_customer_null,
           u(i, 11) AS u_channel_null
    FROM row_ids
  ), ranked AS (
    -- Zipf-Mandelbrot-like ranks: density ~ 1 / (rank + q), q = 5 for products, 50 for customers.
    SELECT *,
      least({PRODUCTS} - 1,
            floor(exp(u_product * ln({PRODUCTS} + 5.0) + (1 - u_product) * ln(5.0)))::BIGINT - 5) AS product_rank,
      least({CUSTOMERS} - 1,
            floor(exp(u_customer * ln({CUSTOMERS} + 50.0) + (1 - u_customer) * ln(50.0)))::BIGINT - 50) AS customer_rank
    FROM r
  ), joined AS (
    SELECT
      r.i + 1 AS order_id,
      CASE WHEN r.i >= d.next_s THEN d.next_day ELSE d.order_day END AS order_date,
      c.region,
      c.country,
      CASE WHEN r.u_channel_null < 0.005 THEN NULL
           WHEN r.u_channel < 0.38 + 0.14 * r.t THEN 'Online'
           WHEN r.u_channel < 0.70 + 0.04 * r.t THEN 'Retail'
           WHEN r.u_channel < 0.87 + 0.02 * r.t THEN 'Partner'
           ELSE 'Direct' END AS channel,
      p.category,
      p.product,
      CASE WHEN r.u_customer_null < 0.01 THEN NULL ELSE cu.customer END AS customer,
      (CASE WHEN p.base_price >= 300 THEN least(50, 1 + floor(-ln(1 - r.u_units) * 0.6))
            WHEN r.u_bulk < 0.06 THEN 10 + floor(41 * pow(r.u_bulk / 0.06, 2.5))  -- bulk orders: 10..50
            ELSE least(50, 1 + floor(-ln(1 - r.u_units) * 2.2)) END)::INTEGER AS units,
      round(p.base_price * (1 + 0.06 * r.t) * (0.96 + 0.08 * r.u_price), 2)::DECIMAL(10,2) AS unit_price,
      r.u_discount,
      r.u_discount_null
    FROM ranked r
    JOIN date_buckets d ON d.bucket = r.bucket
    JOIN country_slots c ON c.slot = r.slot
    JOIN products p ON p.product_rank = r.product_rank
    JOIN customers cu ON cu.customer_rank = r.customer_rank
  ), with_p AS (
    SELECT *,
      CASE channel WHEN 'Partner' THEN 0.55 WHEN 'Direct' THEN 0.35 WHEN 'Retail' THEN 0.22 ELSE 0.30 END
        + CASE WHEN month(order_date) = 11 THEN 0.15 ELSE 0.0 END AS p_discount
    FROM joined
  ), discounted AS (
    SELECT order_id, order_date, region, country, channel, category, product, customer, units, unit_price,
      (CASE WHEN u_discount_null < 0.02 THEN NULL
            WHEN u_discount < p_discount
              THEN round(0.05 * least(8, 1 + floor(-ln(1 - u_discount / p_discount) * 1.6)), 2)
            ELSE 0 END)::DOUBLE AS discount
    FROM with_p
  )
  SELECT *,
    round(units * unit_price * (1 - coalesce(discount, 0)), 2)::DECIMAL(12,2) AS revenue,
    year(order_date)::INTEGER AS year,
    month(order_date)::INTEGER AS month
  FROM discounted
) TO {ORDERS_DIR} (FORMAT parquet, PARTITION_BY (year, month), COMPRESSION zstd);
)SQL";

constexpr const char* kCustomersCsvSql = R"SQL(
COPY (SELECT customer, segment, signup_date, account_manager FROM customers ORDER BY customer)
TO {CSV_PATH} (FORMAT csv, HEADER true);
)SQL";

// Replaces `target` (a directory, maybe absent) with `fresh`. The old one is first renamed aside,
// so at every moment `target` is either the old complete data set, absent, or the new one.
Result<void> replace_dir(const fs::path& fresh, const fs::path& target, const std::string& unique) {
  std::error_code ec;
  std::string old_name(1, '.');
  old_name += target.filename().string();
  old_name += ".old-";
  old_name += unique;
  const fs::path old = target.parent_path() / old_name;
  bool had_old = fs::exists(target, ec);
  if (had_old) {
    fs::rename(target, old, ec);
    if (ec) return fail(ErrorKind::Internal, "demo data: could not move aside " + target.string() + ": " + ec.message());
  }
  fs::rename(fresh, target, ec);
  if (ec) {
    std::error_code ignored;
    if (had_old) fs::rename(old, target, ignored);
    return fail(ErrorKind::Internal, "demo data: could not move the new data into " + target.string() + ": " + ec.message());
  }
  if (had_old) fs::remove_all(old, ec);  // best effort: the new data is already in place
  return {};
}

}  // namespace

Result<DemoDataSummary> generate_demo_data(const DemoDataOptions& options) {
  if (options.rows < 1) return fail(ErrorKind::InvalidInput, "demo data: rows must be at least 1");
  if (options.out_dir.empty()) return fail(ErrorKind::InvalidInput, "demo data: out_dir is empty");
  if (options.threads < 0) return fail(ErrorKind::InvalidInput, "demo data: threads must be 0 (default) or more");
  const auto started = std::chrono::steady_clock::now();

  std::error_code ec;
  const fs::path out_dir = fs::absolute(options.out_dir, ec);
  if (ec) return fail(ErrorKind::InvalidInput, "demo data: bad out_dir " + options.out_dir.string() + ": " + ec.message());
  fs::create_directories(out_dir, ec);
  if (ec) return fail(ErrorKind::Internal, "demo data: could not create " + out_dir.string() + ": " + ec.message());

  // Temp outputs beside the final ones (same file system, so the final renames are cheap),
  // dot-named so that globs over out_dir/orders never see them.
  const std::string unique = std::to_string(::getpid()) + "-" +
                             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  const fs::path orders_tmp = out_dir / (".orders.tmp-" + unique);
  const fs::path csv_tmp = out_dir / (".customers.csv.tmp-" + unique);
  Cleanup orders_cleanup(orders_tmp);
  Cleanup csv_cleanup(csv_tmp);

  const std::string rows = std::to_string(options.rows);
  int64_t written = 0;
  std::string first_date, last_date;
  {
    auto db = engine::Database::open(":memory:", {.threads = options.threads});
    if (!db) return fail(db.error());
    auto conn = engine::Connection::open(**db);
    if (!conn) return fail(conn.error());
    engine::Connection& c = **conn;

    if (options.threads > 0) {
      if (auto r = run(c, "SET threads = " + std::to_string(options.threads), "SET threads"); !r) return fail(r.error());
    }
    if (auto r = run(c, "SET preserve_insertion_order = false", "SET preserve_insertion_order"); !r) return fail(r.error());

    const std::initializer_list<std::pair<std::string_view, std::string>> common = {
        {"SEEDMIX", std::to_string(mix_seed(options.seed))},
        {"ROWS", rows},
        {"PRODUCTS", std::to_string(kProducts)},
        {"CUSTOMERS", std::to_string(kCustomers)},
    };
    const std::pair<const char*, const char*> setup[] = {
        {kMacros, "creating macros"},
        {kCountries, "building countries"},
        {kProductsSql, "building products"},
        {kCustomersSql, "building customers"},
        {kDaysSql, "building the calendar"},
        {kRowIdsSql, "numbering rows"},
    };
    for (const auto& [sql, step] : setup) {
      if (auto r = run(c, fill(sql, common), step); !r) return fail(r.error());
    }

    auto days = first_row(c, "SELECT greatest(1, min(next_s - s))::BIGINT, strftime(min(order_day), '%Y-%m-%d'), "
                             "strftime(max(order_day), '%Y-%m-%d') FROM nonempty_days");
    if (!days) return fail(days.error());
    const std::string width = (*days)[0];
    first_date = (*days)[1];
    last_date = (*days)[2];

    if (auto r = run(c, fill(kBucketsSql, {{"ROWS", rows}, {"WIDTH", width}}), "building date buckets"); !r) {
      return fail(r.error());
    }

    if (auto r = run(c, fill(kCustomersCsvSql, {{"CSV_PATH", quote_literal(csv_tmp.string())}}), "writing customers.csv");
        !r) {
      return fail(r.error());
    }

    std::string orders_sql = fill(kOrdersSql, common);
    orders_sql = fill(orders_sql, {{"WIDTH", width}, {"ORDERS_DIR", quote_literal(orders_tmp.string())}});
    auto copied = first_row(c, orders_sql);
    if (!copied) {
      return fail(ErrorKind::Internal, "demo data: writing orders failed: " + copied.error().for_author());
    }
    written = std::stoll((*copied)[0]);
  }
  if (written != options.rows) {
    return fail(ErrorKind::Internal, "demo data: wrote " + std::to_string(written) + " orders, expected " + rows);
  }

  int64_t files = 0;
  for (auto it = fs::recursive_directory_iterator(orders_tmp, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".parquet") ++files;
  }
  if (ec) return fail(ErrorKind::Internal, "demo data: could not list " + orders_tmp.string() + ": " + ec.message());

  if (auto r = replace_dir(orders_tmp, out_dir / "orders", unique); !r) return fail(r.error());
  orders_cleanup.release();
  fs::rename(csv_tmp, out_dir / "customers.csv", ec);  // atomic replace of a single file
  if (ec) return fail(ErrorKind::Internal, "demo data: could not write customers.csv: " + ec.message());
  csv_cleanup.release();

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return DemoDataSummary{written, files, first_date, last_date, seconds};
}

}  // namespace sightline::demo
