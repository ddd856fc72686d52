// The page served at / until the web UI lands: what this server is and where its API is.
#pragma once

#include <string_view>

namespace sightline::api {

inline constexpr std::string_view kPlaceholderPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sightline</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; padding: 0 1rem; color: #1d2330; }
  code { background: #eef1f6; padding: 0.1rem 0.3rem; border-radius: 3px; }
  @media (prefers-color-scheme: dark) { body { background: #12151c; color: #dde3ee; } code { background: #232a36; } }
</style>
</head>
<body>
<h1>Sightline is running</h1>
<p>The dashboard UI is not part of this build yet. The data API is live:</p>
<ul>
  <li><a href="/api/v1/dashboards"><code>GET /api/v1/dashboards</code></a> lists the dashboards</li>
  <li><code>GET /api/v1/dashboards/{id}</code> describes one</li>
  <li><code>POST /api/v1/dashboards/{id}/widgets/{widget}/query</code> returns a widget's data as Apache Arrow (or JSON with <code>Accept: application/json</code>)</li>
  <li><a href="/readyz"><code>GET /readyz</code></a> tells whether the project is loaded</li>
</ul>
</body>
</html>
)html";

}  // namespace sightline::api
