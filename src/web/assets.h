// The browser UI, embedded in the binary at build time (web/scripts/pack.mjs writes the table).
#pragma once

#include <span>
#include <string_view>

namespace sightline::web {

// One file of the built UI. `gzip`/`brotli` are empty when compressing did not pay.
struct Asset {
  std::string_view path;          // "/index.html", "/assets/index-3f2a.js"
  std::string_view content_type;  // with charset for text
  std::string_view etag;          // hex digest of `identity`, without quotes
  std::string_view identity;
  std::string_view gzip;
  std::string_view brotli;
  bool immutable;  // the name carries a content hash: cache it for a year
};

// Every embedded file; empty in a build without the UI (-DSIGHTLINE_WEB_UI=OFF).
std::span<const Asset> embedded_assets();

}  // namespace sightline::web
