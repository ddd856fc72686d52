#include "web/static_files.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace sightline::web {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Calls f(item) for each comma-separated item of a header value.
template <typename F>
void for_each_item(std::string_view value, F&& f) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = trim(value.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// The q value of an Accept-Encoding item ("gzip;q=0.5"); 1 when absent, 0 when unreadable.
double quality(std::string_view params) {
  double q = 1.0;
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view p = trim(params.substr(0, semi));
    if (p.size() > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      std::string text(p.substr(2));
      try {
        size_t used = 0;
        q = std::stod(text, &used);
        if (used != text.size()) q = 0;
      } catch (...) {
        q = 0;
      }
    }
    if (semi == std::string_view::npos) break;
    params.remove_prefix(semi + 1);
  }
  return q;
}

const Asset* find(std::span<const Asset> assets, std::string_view path) {
  for (const Asset& a : assets)
    if (a.path == path) return &a;
  return nullptr;
}

}  // namespace

std::string_view choose_encoding(std::string_view accept_encoding, bool have_gzip, bool have_brotli) {
  double q_br = -1, q_gzip = -1, q_star = -1;
  for_each_item(accept_encoding, [&](std::string_view item) {
    size_t semi = item.find(';');
    std::string_view coding = trim(item.substr(0, semi));
    double q = semi == std::string_view::npos ? 1.0 : quality(item.substr(semi + 1));
    if (iequals(coding, "br"))
      q_br = q;
    else if (iequals(coding, "gzip") || iequals(coding, "x-gzip"))
      q_gzip = q;
    else if (coding == "*")
      q_star = q;
  });
  if (q_br < 0) q_br = q_star;
  if (q_gzip < 0) q_gzip = q_star;
  if (have_brotli && q_br > 0 && q_br >= q_gzip) return "br";
  if (have_gzip && q_gzip > 0) return "gzip";
  if (have_brotli && q_br > 0) return "br";
  return "";
}

bool etag_matches(std::string_view if_none_match, std::string_view quoted_etag) {
  bool match = false;
  for_each_item(if_none_match, [&](std::string_view item) {
    if (item == "*") match = true;
    if (item.size() > 2 && item.substr(0, 2) == "W/") item.remove_prefix(2);  // weak comparison, as RFC 9110 asks for GET
    if (item == quoted_etag) match = true;
  });
  return match;
}

std::optional<api::HttpResponse> serve_static(std::span<const Asset> assets, std::string_view path, const api::HttpRequest& request) {
  if (assets.empty()) return std::nullopt;
  const Asset* asset = nullptr;
  if (path == "/" || path == "/index.html" || path == "/data" || path.starts_with("/d/")) {
    // "/d/<id>" is a page of the app, whatever the id: the app shows "no such dashboard"; "/data"
    // is its page of sources.
    asset = find(assets, "/index.html");
  } else {
    asset = find(assets, path);
    if (!asset || asset->path == "/index.html") return std::nullopt;
  }
  if (!asset) return std::nullopt;

  std::string_view coding = choose_encoding(request.header("accept-encoding"), !asset->gzip.empty(), !asset->brotli.empty());
  // Each representation has its own tag, so a cache never serves brotli bytes to a gzip client.
  std::string etag = "\"" + std::string(asset->etag) + (coding.empty() ? "" : "-" + std::string(coding)) + "\"";

  api::HttpResponse r;
  r.content_type = std::string(asset->content_type);
  r.headers.emplace_back("ETag", etag);
  r.headers.emplace_back("Cache-Control", asset->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  r.headers.emplace_back("Vary", "Accept-Encoding");
  if (asset->content_type.starts_with("text/html")) {
    r.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
    r.headers.emplace_back("X-Frame-Options", "DENY");
  }
  if (etag_matches(request.header("if-none-match"), etag)) {
    r.status = 304;
    r.content_type.clear();
    return r;
  }
  if (!coding.empty()) r.headers.emplace_back("Content-Encoding", std::string(coding));
  std::string_view bytes = coding == "br" ? asset->brotli : coding == "gzip" ? asset->gzip : asset->identity;
  r.body.assign(bytes.data(), bytes.size());
  return r;
}

}  // namespace sightline::web
