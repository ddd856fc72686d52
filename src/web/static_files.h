// Serves the embedded UI: content negotiation for gzip/brotli, strong ETags with conditional
// GETs, year-long caching for hashed assets and revalidation for the page itself.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "api/http.h"
#include "web/assets.h"

namespace sightline::web {

// The content-coding to send for an Accept-Encoding header: "br", "gzip" or "" (identity).
// Honours q=0 ("gzip;q=0" refuses gzip) and "*".
std::string_view choose_encoding(std::string_view accept_encoding, bool have_gzip, bool have_brotli);

// Whether an If-None-Match header matches the quoted entity tag (handles lists, W/ and *).
bool etag_matches(std::string_view if_none_match, std::string_view quoted_etag);

// The response for a GET/HEAD of `path` from `assets`, or nullopt when the path is not the
// UI's. The page routes "/" and "/d/<dashboard>" answer with index.html; the browser app
// reads the rest of the URL itself.
std::optional<api::HttpResponse> serve_static(std::span<const Asset> assets, std::string_view path, const api::HttpRequest& request);

// Headers every UI response carries; the page's Content-Security-Policy forbids inline script.
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

}  // namespace sightline::web
