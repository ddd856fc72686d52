#include "web/static_files.h"

#include <gtest/gtest.h>

#include <array>

namespace sightline::web {
namespace {

api::HttpRequest get(std::vector<std::pair<std::string, std::string>> headers = {}) {
  api::HttpRequest r;
  r.method = "GET";
  r.headers = std::move(headers);
  return r;
}

std::string header(const api::HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "<absent>";
}

const std::array<Asset, 3> kAssets = {{
    {"/index.html", "text/html; charset=utf-8", "abc123", "<html>page</html>", "GZ-page", "BR-page", false},
    {"/assets/app-1f2e.js", "text/javascript; charset=utf-8", "def456", "console.log(1)", "GZ-js", "", true},
    {"/assets/logo-99.png", "image/png", "0a0b", "\x89PNG", "", "", true},
}};

TEST(ChooseEncoding, PrefersBrotliThenGzipAndHonoursQualityZero) {
  EXPECT_EQ(choose_encoding("gzip, deflate, br", true, true), "br");
  EXPECT_EQ(choose_encoding("gzip, deflate, br", true, false), "gzip");
  EXPECT_EQ(choose_encoding("gzip", true, true), "gzip");
  EXPECT_EQ(choose_encoding("br;q=0, gzip", true, true), "gzip");
  EXPECT_EQ(choose_encoding("gzip;q=0", true, false), "");
  EXPECT_EQ(choose_encoding("gzip;q=0.9, br;q=0.5", true, true), "gzip");
  EXPECT_EQ(choose_encoding("*", true, true), "br");
  EXPECT_EQ(choose_encoding("*;q=0, identity", true, true), "");
  EXPECT_EQ(choose_encoding("", true, true), "");
  EXPECT_EQ(choose_encoding("BR", false, true), "br");
  EXPECT_EQ(choose_encoding("gzip;q=nonsense", true, true), "");
}

TEST(EtagMatches, ListsWeakTagsAndStar) {
  EXPECT_TRUE(etag_matches("\"a\"", "\"a\""));
  EXPECT_TRUE(etag_matches("\"x\", W/\"a\"", "\"a\""));
  EXPECT_TRUE(etag_matches("*", "\"a\""));
  EXPECT_FALSE(etag_matches("\"ab\"", "\"a\""));
  EXPECT_FALSE(etag_matches("", "\"a\""));
}

TEST(ServeStatic, PageRoutesAnswerWithIndexAndRevalidate) {
  for (std::string_view path : {"/", "/index.html", "/d/sales", "/d/anything/else"}) {
    auto r = serve_static(kAssets, path, get());
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "<html>page</html>");
    EXPECT_EQ(r->content_type, "text/html; charset=utf-8");
    EXPECT_EQ(header(*r, "Cache-Control"), "no-cache");
    EXPECT_EQ(header(*r, "ETag"), "\"abc123\"");
    EXPECT_EQ(header(*r, "Content-Encoding"), "<absent>");
    EXPECT_NE(header(*r, "Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  }
}

TEST(ServeStatic, HashedAssetsAreImmutableAndCompressedOnRequest) {
  auto r = serve_static(kAssets, "/assets/app-1f2e.js", get({{"accept-encoding", "gzip, br"}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GZ-js");  // no brotli variant: gzip
  EXPECT_EQ(header(*r, "Content-Encoding"), "gzip");
  EXPECT_EQ(header(*r, "ETag"), "\"def456-gzip\"");
  EXPECT_EQ(header(*r, "Vary"), "Accept-Encoding");
  EXPECT_EQ(header(*r, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(header(*r, "Content-Security-Policy"), "<absent>");

  auto png = serve_static(kAssets, "/assets/logo-99.png", get({{"accept-encoding", "br"}}));
  ASSERT_TRUE(png);
  EXPECT_EQ(png->body, "\x89PNG");
  EXPECT_EQ(header(*png, "Content-Encoding"), "<absent>");
}

TEST(ServeStatic, ConditionalGetAnswersNotModifiedPerRepresentation) {
  auto r = serve_static(kAssets, "/", get({{"accept-encoding", "br"}, {"if-none-match", "\"abc123-br\""}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 304);
  EXPECT_TRUE(r->body.empty());
  // The same tag from a client that now asks for gzip is another representation: full answer.
  auto other = serve_static(kAssets, "/", get({{"accept-encoding", "gzip"}, {"if-none-match", "\"abc123-br\""}}));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  EXPECT_EQ(other->body, "GZ-page");
}

TEST(ServeStatic, UnknownPathsAndEmptyBuildsAreNotTheUis) {
  EXPECT_FALSE(serve_static(kAssets, "/assets/missing.js", get()));
  EXPECT_FALSE(serve_static(kAssets, "/favicon.ico", get()));
  EXPECT_FALSE(serve_static(kAssets, "/assets/../index.html", get()));
  EXPECT_FALSE(serve_static({}, "/", get()));
}

}  // namespace
}  // namespace sightline::web
